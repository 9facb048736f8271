"""The Docker runtime: the only package that talks to the Docker engine (`import docker`)."""
