"""Create the template's AWS resources (tables, queues, buckets, topics, secrets, e-mail identities).

Works against any boto3 clients: moto's server here, but equally ``mock_aws`` in an integration test::

    create_resources(Template.load("template.yaml"), boto3.client)

Resource types the local stack does not create (functions, APIs, roles, alarms, ...) are skipped.
"""

from __future__ import annotations

import json
import secrets
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from local.cfn import (
    BUCKET,
    EMAIL_IDENTITY,
    QUEUE,
    SECRET,
    SUBSCRIPTION,
    TABLE,
    TOPIC,
    Template,
    TemplateError,
)

ClientFactory = Callable[[str], Any]


@dataclass
class CreatedResources:
    """What :func:`create_resources` made, by logical id."""

    tables: dict[str, str] = field(default_factory=dict)  # logical id → table name
    queues: dict[str, str] = field(default_factory=dict)  # logical id → queue URL
    buckets: dict[str, str] = field(default_factory=dict)  # logical id → bucket name
    topics: dict[str, str] = field(default_factory=dict)  # logical id → topic ARN
    secrets: dict[str, str] = field(default_factory=dict)  # logical id → secret name
    identities: dict[str, str] = field(default_factory=dict)  # logical id → SES identity


def create_resources(
    template: Template,
    client_factory: ClientFactory,
    secret_values: Mapping[str, str] | None = None,
) -> CreatedResources:
    """Create every supported resource of ``template``, dependencies first.

    ``secret_values`` (secret name → value) wins over ``SecretString``/``GenerateSecretString`` so that a
    generated secret keeps its value across restarts.
    """
    clients: dict[str, Any] = {}

    def client(service: str) -> Any:
        if service not in clients:
            clients[service] = client_factory(service)
        return clients[service]

    created = CreatedResources()
    creators: dict[str, Callable[[str], None]] = {
        TABLE: lambda lid: created.tables.__setitem__(lid, _create_table(template, lid, client("dynamodb"))),
        QUEUE: lambda lid: created.queues.__setitem__(lid, _create_queue(template, lid, client("sqs"))),
        BUCKET: lambda lid: created.buckets.__setitem__(lid, _create_bucket(template, lid, client("s3"))),
        TOPIC: lambda lid: created.topics.__setitem__(lid, _create_topic(template, lid, client("sns"))),
        SUBSCRIPTION: lambda lid: _create_subscription(template, lid, client("sns")),
        SECRET: lambda lid: created.secrets.__setitem__(
            lid, _create_secret(template, lid, client("secretsmanager"), secret_values or {})
        ),
        EMAIL_IDENTITY: lambda lid: created.identities.__setitem__(
            lid, _create_email_identity(template, lid, client("sesv2"))
        ),
    }
    wanted = list(template.resources(*creators))
    for logical_id in template.creation_order(wanted):
        creators[template.resource_type(logical_id)](logical_id)
    return created


# ------------------------------------------------------------------------------------------------
# DynamoDB
# ------------------------------------------------------------------------------------------------

_INDEX_KEYS = ("IndexName", "KeySchema", "Projection", "ProvisionedThroughput", "OnDemandThroughput")


def table_request(template: Template, logical_id: str) -> dict[str, Any]:
    """The ``CreateTable`` request for a template table (CloudFormation and API names mostly agree)."""
    props = template.properties(logical_id)
    request: dict[str, Any] = {
        "TableName": template.physical_name(logical_id),
        "KeySchema": props["KeySchema"],
        "AttributeDefinitions": props["AttributeDefinitions"],
        "BillingMode": props.get("BillingMode", "PROVISIONED"),
    }
    if request["BillingMode"] == "PROVISIONED":
        request["ProvisionedThroughput"] = props.get(
            "ProvisionedThroughput", {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}
        )
    for index_kind in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
        if props.get(index_kind):
            request[index_kind] = [
                {key: index[key] for key in _INDEX_KEYS if key in index} for index in props[index_kind]
            ]
    stream = props.get("StreamSpecification")
    if stream and stream.get("StreamViewType"):
        request["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": stream["StreamViewType"]}
    for key in ("TableClass", "DeletionProtectionEnabled"):
        if key in props:
            request[key] = props[key]
    if props.get("Tags"):
        request["Tags"] = props["Tags"]
    return request


def _create_table(template: Template, logical_id: str, dynamodb: Any) -> str:
    request = table_request(template, logical_id)
    # A local stack must be deletable: deletion protection is a production concern.
    request.pop("DeletionProtectionEnabled", None)
    dynamodb.create_table(**request)
    ttl = template.properties(logical_id).get("TimeToLiveSpecification")
    if ttl and _true(ttl.get("Enabled")):
        dynamodb.update_time_to_live(
            TableName=request["TableName"],
            TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True},
        )
    return str(request["TableName"])


# ------------------------------------------------------------------------------------------------
# SQS, S3, SNS
# ------------------------------------------------------------------------------------------------

_QUEUE_ATTRIBUTES = (
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "DelaySeconds",
    "FifoQueue",
    "FifoThroughputLimit",
    "KmsDataKeyReusePeriodSeconds",
    "KmsMasterKeyId",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "RedriveAllowPolicy",
    "RedrivePolicy",
    "SqsManagedSseEnabled",
    "VisibilityTimeout",
)


def _create_queue(template: Template, logical_id: str, sqs: Any) -> str:
    props = template.properties(logical_id)
    attributes = {key: _attribute_string(props[key]) for key in _QUEUE_ATTRIBUTES if key in props}
    request: dict[str, Any] = {"QueueName": template.physical_name(logical_id), "Attributes": attributes}
    if props.get("Tags"):
        request["tags"] = {tag["Key"]: tag["Value"] for tag in props["Tags"]}
    return str(sqs.create_queue(**request)["QueueUrl"])


def _create_bucket(template: Template, logical_id: str, s3: Any) -> str:
    name = template.physical_name(logical_id)
    s3.create_bucket(Bucket=name)
    props = template.properties(logical_id)
    if (props.get("VersioningConfiguration") or {}).get("Status") == "Enabled":
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    # TODO(triggers): NotificationConfiguration (S3 → Lambda/SQS/SNS) is wired by local.triggers.
    return name


def _create_topic(template: Template, logical_id: str, sns: Any) -> str:
    props = template.properties(logical_id)
    attributes = {
        key: _attribute_string(props[key])
        for key in ("DisplayName", "FifoTopic", "ContentBasedDeduplication", "KmsMasterKeyId")
        if key in props
    }
    arn = str(sns.create_topic(Name=template.physical_name(logical_id), Attributes=attributes)["TopicArn"])
    for subscription in props.get("Subscription") or []:
        sns.subscribe(TopicArn=arn, Protocol=subscription["Protocol"], Endpoint=subscription["Endpoint"])
    return arn


def _create_subscription(template: Template, logical_id: str, sns: Any) -> None:
    props = template.properties(logical_id)
    attributes = {
        key: _attribute_string(props[key])
        for key in ("RawMessageDelivery", "FilterPolicy", "FilterPolicyScope", "RedrivePolicy")
        if key in props
    }
    sns.subscribe(
        TopicArn=props["TopicArn"],
        Protocol=props["Protocol"],
        Endpoint=props["Endpoint"],
        Attributes=attributes,
    )


# ------------------------------------------------------------------------------------------------
# Secrets Manager, SES
# ------------------------------------------------------------------------------------------------


def _create_secret(
    template: Template, logical_id: str, secretsmanager: Any, values: Mapping[str, str]
) -> str:
    props = template.properties(logical_id)
    name = template.physical_name(logical_id)
    if name in values:
        value = values[name]
    elif "SecretString" in props:
        value = str(props["SecretString"])
    elif "GenerateSecretString" in props:
        value = generate_secret_string(props["GenerateSecretString"])
    else:
        raise TemplateError(f"{logical_id}: a secret needs SecretString or GenerateSecretString")
    request: dict[str, Any] = {"Name": name, "SecretString": value}
    if props.get("Description"):
        request["Description"] = props["Description"]
    secretsmanager.create_secret(**request)
    return name


_PUNCTUATION = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"


def generate_secret_string(spec: Mapping[str, Any]) -> str:
    """A random secret following CloudFormation's ``GenerateSecretString`` rules."""
    classes = [
        ("ExcludeLowercase", string.ascii_lowercase),
        ("ExcludeUppercase", string.ascii_uppercase),
        ("ExcludeNumbers", string.digits),
        ("ExcludePunctuation", _PUNCTUATION),
    ]
    excluded = set(str(spec.get("ExcludeCharacters", "")))
    pools = [
        "".join(c for c in chars if c not in excluded) for key, chars in classes if not _true(spec.get(key))
    ]
    if _true(spec.get("IncludeSpace")):
        pools.append(" ")
    pools = [pool for pool in pools if pool]
    if not pools:
        raise TemplateError("GenerateSecretString excludes every character")
    length = int(spec.get("PasswordLength", 32))
    alphabet = "".join(pools)
    while True:
        password = "".join(secrets.choice(alphabet) for _ in range(length))
        require_each = _true(spec.get("RequireEachIncludedType", True))
        if not require_each or length < len(pools) or all(any(c in pool for c in password) for pool in pools):
            break
    template_text, key = spec.get("SecretStringTemplate"), spec.get("GenerateStringKey")
    if template_text and key:
        document = json.loads(str(template_text))
        document[str(key)] = password
        return json.dumps(document)
    return password


def _create_email_identity(template: Template, logical_id: str, sesv2: Any) -> str:
    identity = str(template.properties(logical_id)["EmailIdentity"])
    sesv2.create_email_identity(EmailIdentity=identity)
    return identity


def _true(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


def _attribute_string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)
