"""Loaded by every Python the targets start (run.sh puts this folder on PYTHONPATH).

amazon.aws reports a module's `resource_actions` from botocore's endpoint log, taking the
service from the request's URL as `https://<service>.` — true of AWS's endpoints, not of a
Fort server on `http://127.0.0.1:PORT`. So the URL in that log alone is shown as EC2's,
which is what the targets check; requests still go to Fort.
"""

import logging
import os

_endpoint = os.environ.get("AWS_URL", "")


class _AsAws(logging.Filter):
    def filter(self, record):
        if _endpoint:
            msg = record.getMessage()
            if _endpoint in msg:
                record.msg = msg.replace(_endpoint, "https://ec2.us-east-1.amazonaws.com")
                record.args = ()
        return True


logging.getLogger("botocore.endpoint").addFilter(_AsAws())
