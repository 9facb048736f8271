module innovation-den.invalid/testbed/images

go 1.22
