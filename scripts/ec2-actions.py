#!/usr/bin/env python3
"""Which of EC2's actions (botocore's model) a Fort server answers, and which it answers
InvalidAction: each action is sent once with DryRun and nothing else, to a fresh
`fort server --dataplane off`.

    FORT_BIN=target/debug/fort python3 scripts/ec2-actions.py [--missing]
"""
import os
import sys

import botocore.session
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "api"))
import conftest  # noqa: E402  (its Fort class starts and stops a server)


def main():
    model = botocore.session.get_session().get_service_model("ec2")
    creds = Credentials(conftest.ACCESS_KEY, conftest.SECRET_KEY)
    fort = conftest.Fort()
    missing = []
    try:
        for op in model.operation_names:
            body = f"Action={op}&Version={model.api_version}&DryRun=true"
            req = AWSRequest(method="POST", url=fort.endpoint + "/", data=body,
                             headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
            SigV4Auth(creds, "ec2", "us-east-1").add_auth(req)
            answer = requests.post(fort.endpoint + "/", data=body, headers=dict(req.headers), timeout=30)
            if "<Code>InvalidAction</Code>" in answer.text:
                missing.append(op)
    finally:
        fort.close()
    if "--missing" in sys.argv:
        print("\n".join(missing))
    total = len(model.operation_names)
    print(f"{total - len(missing)} of EC2's {total} actions answered; {len(missing)} InvalidAction",
          file=sys.stderr)


if __name__ == "__main__":
    main()
