"""Innovation Den: isolated, time-boxed trial sandboxes from supplier templates.

The core package. It knows nothing of HTTP or HTML: `api/` and `web/` are thin front ends over
the functions here, and `drivers/` are the only modules that speak to a container runtime.
"""

__version__ = "0.1.0"
