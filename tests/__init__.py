"""The test suite.

gRPC (Ray's client, which tests/e2e/test_ray_serve.py runs in this process) registers fork
handlers that restart its poller in a forked child; a child that then closes its inherited
descriptors before exec (every ``subprocess`` call that changes user, as tests/services.py does
as root) aborts. Its fork support is off for the whole run, set before anything imports gRPC.
"""

import os

os.environ["GRPC_ENABLE_FORK_SUPPORT"] = "false"
