"""Services other than EC2, signed with the same credentials: each gets an error in its own
protocol that says Fort does not offer it (its SDK raises it as a ClientError with that
code), never a 401 about credentials."""

import pytest
from botocore.exceptions import ClientError

# (service, call, kwargs, code the SDK reports, HTTP status)
CASES = [
    ("kms", "list_keys", {}, "UnknownOperationException", 400),  # JSON 1.1
    ("sqs", "list_queues", {}, "UnknownOperationException", 400),  # JSON 1.0
    ("sns", "list_topics", {}, "InvalidAction", 400),
    ("cloudfront", "list_distributions", {}, "InvalidAction", 400),  # REST-XML
    ("lambda", "list_functions", {}, "UnknownOperationException", 400),  # REST-JSON
    ("cloudwatch", "list_metrics", {}, "UnknownOperationException", 400),  # RPC v2 CBOR or query
]


@pytest.mark.parametrize("service,call,kwargs,code,status", CASES, ids=[c[0] for c in CASES])
def test_other_services_answer_in_their_protocol(fort, service, call, kwargs, code, status):
    client = fort.client(service)
    with pytest.raises(ClientError) as e:
        getattr(client, call)(**kwargs)
    err = e.value.response["Error"]
    if service == "cloudwatch" and err["Code"] == "InvalidAction":
        # an older botocore speaks the query protocol to CloudWatch
        code = "InvalidAction"
    assert err["Code"] == code, e.value.response
    signing_name = client.meta.service_model.signing_name
    assert "does not offer" in err["Message"] and f"'{signing_name}'" in err["Message"]
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == status


def test_other_services_still_need_a_valid_signature(fort):
    """Not offered is said only to a signer Fort knows: a bad secret is refused first."""
    client = fort.client("logs", secret_key="not-the-secret-key-000000000000000000000")
    with pytest.raises(ClientError) as e:
        client.describe_log_groups()
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 401


def test_sts_get_caller_identity_still_answers(fort):
    ident = fort.client("sts").get_caller_identity()
    assert ident["Account"] == "123456789012"
