"""The local stack itself: moto kept faithful, resources from the template, state kept, the HTTP front."""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import os
import sys
import textwrap
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from botocore.config import Config

from local import LocalStack, LocalStackError
from local.cfn import SERVERLESS_API, TABLE, Template, TemplateError, load_yaml
from local.lambdas import LambdaRuntime
from local.resources import create_resources
from local.server import MAX_BODY_BYTES, FrontServer

pytestmark = pytest.mark.e2e

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"


def _template() -> Template:
    return Template.load(TEMPLATE)


def _client(stack: LocalStack, service: str, **config: Any) -> Any:
    return boto3.session.Session().client(
        service,
        endpoint_url=stack.moto_url,
        region_name="us-east-1",
        aws_access_key_id="e2e",
        aws_secret_access_key="e2e",
        config=Config(**config) if config else None,
    )


def _gateway_response_body(response_type: str) -> Any:
    """The JSON body the template's API declares for a gateway response (read from the YAML directly)."""
    resources = load_yaml(TEMPLATE)["Resources"]
    apis = [r["Properties"] for r in resources.values() if r["Type"] == SERVERLESS_API]
    (api,) = [p for p in apis if response_type in (p.get("GatewayResponses") or {})]
    return json.loads(api["GatewayResponses"][response_type]["ResponseTemplates"]["application/json"])


# ------------------------------------------------------------------------------------------------
# Template reading
# ------------------------------------------------------------------------------------------------

_RESOLVER_TEMPLATE = """\
Parameters:
  Stage: {Type: String, Default: dev, AllowedValues: [dev, prod]}
  Names: {Type: CommaDelimitedList, Default: "a,b,c"}
Mappings:
  Sizes: {dev: {Memory: 128}, prod: {Memory: 1024}}
Conditions:
  IsProd: !Equals [!Ref Stage, prod]
  IsDev: !Not [!Condition IsProd]
Globals:
  Function:
    Environment:
      Variables:
        QUEUE_URL: !Ref Jobs
Resources:
  Jobs:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: !Sub "jobs-${Stage}"
  Dead:
    Type: AWS::SQS::Queue
    Properties:
      FifoQueue: true
  Uploads:
    Type: AWS::S3::Bucket
  OnlyInProd:
    Type: AWS::SNS::Topic
    Condition: IsProd
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: fn
      Handler: app.handler
      Environment:
        Variables:
          ARN: !GetAtt Jobs.Arn
          SUB: !Sub "${AWS::Region}/${AWS::AccountId}/${Uploads}/${Dead.QueueName}/${!Literal}"
          JOINED: !Join ["-", [!Select [1, !Ref Names], !FindInMap [Sizes, !Ref Stage, Memory]]]
          PICK: !If [IsProd, big, !If [IsDev, small, never]]
          SPLIT: !Select [2, !Split [",", "x,y,z"]]
      Tags: [!If [IsProd, prod-only, !Ref AWS::NoValue], kept]
"""


def _resolver_template(tmp_path: Path, **parameters: str) -> Template:
    (tmp_path / "template.yaml").write_text(_RESOLVER_TEMPLATE)
    template = Template.load(tmp_path / "template.yaml", parameters=parameters)
    template.endpoint_url = "http://127.0.0.1:4566"
    return template


def test_intrinsics_resolve_with_parameters_conditions_and_local_names(tmp_path: Path) -> None:
    # Given a template using short-form intrinsics
    template = _resolver_template(tmp_path)
    fn = template.functions()["Fn"]

    # Then Ref, GetAtt, Sub, If, Join, Select, Split and FindInMap resolve to local values
    assert fn.environment == {
        "QUEUE_URL": "http://127.0.0.1:4566/123456789012/jobs-dev",
        "ARN": "arn:aws:sqs:us-east-1:123456789012:jobs-dev",
        "SUB": "us-east-1/123456789012/uploads-local/Dead.fifo/${Literal}",
        "JOINED": "b-128",
        "PICK": "small",
        "SPLIT": "z",
    }
    assert template.resolve(fn.properties["Tags"]) == ["kept"]
    # And resources whose condition is false are left out
    assert "OnlyInProd" not in template.resources()
    # And parameters can be overridden, within their allowed values
    prod = _resolver_template(tmp_path, Stage="prod")
    assert "OnlyInProd" in prod.resources()
    assert prod.functions()["Fn"].environment["PICK"] == "big"
    with pytest.raises(TemplateError, match="not one of"):
        _resolver_template(tmp_path, Stage="qa")
    # And a reference to nothing is an error, not a silent empty string
    with pytest.raises(TemplateError, match="unknown resource 'Nowhere'"):
        template.resolve({"Fn::Sub": "${Nowhere}"})


def test_conflicting_function_environments_are_refused(tmp_path: Path) -> None:
    # Given two functions setting one variable to different values
    (tmp_path / "template.yaml").write_text(
        textwrap.dedent("""\
            Resources:
              A: {Type: AWS::Serverless::Function, Properties: {CodeUri: a, Handler: app.h,
                  Environment: {Variables: {MODE: one}}}}
              B: {Type: AWS::Serverless::Function, Properties: {CodeUri: b, Handler: app.h,
                  Environment: {Variables: {MODE: two}}}}
            """)
    )
    # When the shared environment is computed
    # Then a clear error names the variable and both functions
    with pytest.raises(TemplateError, match="MODE is 'one' in A but 'two' in B"):
        Template.load(tmp_path / "template.yaml").lambda_environment()


def test_queues_buckets_topics_and_secrets_are_created_generically(
    local_stack: LocalStack, tmp_path: Path
) -> None:
    # Given a template with a dead-letter queue, a queue redriving to it, a bucket, a topic with an SQS
    # subscription and two secrets
    run = uuid.uuid4().hex[:8]
    (tmp_path / "template.yaml").write_text(
        textwrap.dedent(f"""\
            Resources:
              DeadLetters{run}:
                Type: AWS::SQS::Queue
              Work{run}:
                Type: AWS::SQS::Queue
                Properties:
                  VisibilityTimeout: 30
                  RedrivePolicy:
                    deadLetterTargetArn: !GetAtt DeadLetters{run}.Arn
                    maxReceiveCount: 3
              Imports{run}:
                Type: AWS::S3::Bucket
              Events{run}:
                Type: AWS::SNS::Topic
                Properties:
                  Subscription:
                    - Protocol: sqs
                      Endpoint: !GetAtt Work{run}.Arn
              Plain{run}:
                Type: AWS::SecretsManager::Secret
                Properties: {{SecretString: fixed}}
              Generated{run}:
                Type: AWS::SecretsManager::Secret
                Properties:
                  GenerateSecretString:
                    SecretStringTemplate: '{{"user": "app"}}'
                    GenerateStringKey: password
                    PasswordLength: 20
                    ExcludePunctuation: true
            """)
    )
    template = Template.load(tmp_path / "template.yaml")
    template.endpoint_url = local_stack.moto_url

    # When its resources are created in moto (dependencies first)
    created = create_resources(template, lambda service: _client(local_stack, service))

    # Then each exists under its local name and Ref gives what AWS would give
    sqs = _client(local_stack, "sqs")
    work_url = created.queues[f"Work{run}"]
    assert work_url == template.ref(f"Work{run}")
    attributes = sqs.get_queue_attributes(QueueUrl=work_url, AttributeNames=["All"])["Attributes"]
    assert json.loads(attributes["RedrivePolicy"]) == {
        "deadLetterTargetArn": template.get_att(f"DeadLetters{run}", "Arn"),
        "maxReceiveCount": 3,
    }
    assert attributes["VisibilityTimeout"] == "30"
    bucket = created.buckets[f"Imports{run}"]
    assert bucket == f"imports{run}-local"
    _client(local_stack, "s3").head_bucket(Bucket=bucket)
    topic = created.topics[f"Events{run}"]
    assert topic == template.ref(f"Events{run}")
    _client(local_stack, "sns").publish(TopicArn=topic, Message="hello")
    assert "hello" in sqs.receive_message(QueueUrl=work_url, WaitTimeSeconds=1)["Messages"][0]["Body"]
    secrets = _client(local_stack, "secretsmanager")
    assert secrets.get_secret_value(SecretId=template.ref(f"Plain{run}"))["SecretString"] == "fixed"
    generated = json.loads(secrets.get_secret_value(SecretId=template.ref(f"Generated{run}"))["SecretString"])
    assert generated["user"] == "app"
    assert len(generated["password"]) == 20 and generated["password"].isalnum()


# ------------------------------------------------------------------------------------------------
# moto: DynamoDB's conditional-write guarantee holds under concurrency
# ------------------------------------------------------------------------------------------------


def test_racing_conditional_claims_each_item_is_claimed_exactly_once(local_stack: LocalStack) -> None:
    # Given 300 unclaimed items in the template's DirectoryTable
    table = _template().physical_name("DirectoryTable")
    run = uuid.uuid4().hex[:8]
    keys = [{"pk": {"S": f"RACE#{run}#{i:03d}"}, "sk": {"S": "ITEM"}} for i in range(300)]
    setup = _client(local_stack, "dynamodb")
    for start in range(0, len(keys), 25):
        setup.batch_write_item(
            RequestItems={table: [{"PutRequest": {"Item": key}} for key in keys[start : start + 25]]}
        )
    racers = 8
    barrier = threading.Barrier(racers)

    def race(racer: int) -> tuple[int, int]:
        client = _client(local_stack, "dynamodb", retries={"max_attempts": 10, "mode": "standard"})
        wins = losses = 0
        barrier.wait()
        for key in keys:
            try:
                client.update_item(
                    TableName=table,
                    Key=key,
                    UpdateExpression="SET claimed_by = :me",
                    ConditionExpression="attribute_not_exists(claimed_by)",
                    ExpressionAttributeValues={":me": {"S": f"racer-{racer}"}},
                )
                wins += 1
            except client.exceptions.ConditionalCheckFailedException:
                losses += 1
        return wins, losses

    # When 8 clients, each with its own connection pool, race to claim every item (with thread switches
    # made frequent: with the default interval an unserialised moto loses the race only now and then)
    switch_interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    try:
        with ThreadPoolExecutor(racers) as pool:
            results = list(pool.map(race, range(racers)))
    finally:
        sys.setswitchinterval(switch_interval)

    # Then exactly 300 claims succeeded, every other attempt lost, and each item has one owner
    assert sum(wins for wins, _ in results) == 300
    assert sum(losses for _, losses in results) == (racers - 1) * 300
    owners = Counter()
    for key in keys:
        item = setup.get_item(TableName=table, Key=key, ConsistentRead=True)["Item"]
        owners[item["claimed_by"]["S"]] += 1
    assert sum(owners.values()) == 300
    assert owners == Counter({f"racer-{i}": wins for i, (wins, _) in enumerate(results) if wins})


# ------------------------------------------------------------------------------------------------
# Resources come from the template
# ------------------------------------------------------------------------------------------------


def test_every_template_table_and_index_exists_with_the_template_key_schema(local_stack: LocalStack) -> None:
    # Given the tables the template declares
    template = _template()
    tables = template.resources(TABLE)
    assert tables
    dynamodb = _client(local_stack, "dynamodb")

    for logical_id in tables:
        props = template.properties(logical_id)
        # When the local table is described
        described = dynamodb.describe_table(TableName=template.physical_name(logical_id))["Table"]

        # Then its keys, attributes, billing mode and indexes are the template's
        assert described["KeySchema"] == props["KeySchema"]
        assert sorted(described["AttributeDefinitions"], key=str) == sorted(
            props["AttributeDefinitions"], key=str
        )
        assert described["BillingModeSummary"]["BillingMode"] == props.get("BillingMode", "PROVISIONED")
        for kind in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
            declared = {index["IndexName"]: index for index in props.get(kind, [])}
            actual = {index["IndexName"]: index for index in described.get(kind, [])}
            assert set(actual) == set(declared), f"{logical_id} {kind}"
            for name, index in declared.items():
                assert actual[name]["KeySchema"] == index["KeySchema"]
                assert actual[name]["Projection"]["ProjectionType"] == index["Projection"]["ProjectionType"]


def test_the_lambda_environment_and_aws_endpoint_are_exported(local_stack: LocalStack) -> None:
    # Given the running stack and the template's function environment (with the stack's parameters)
    template = Template.load(TEMPLATE, parameters=local_stack.parameters)

    # Then the process talks to moto and sees every function's variables
    assert os.environ["AWS_ENDPOINT_URL"] == local_stack.moto_url
    assert os.environ["AWS_REGION"] == os.environ["AWS_DEFAULT_REGION"] == "us-east-1"
    assert "AWS_PROFILE" not in os.environ
    assert os.environ["LOCAL_STACK"] == "true"
    assert os.environ["POWERTOOLS_TRACE_DISABLED"] == "true"
    for name, value in template.lambda_environment().items():
        assert os.environ[name] == value
    # And the secrets the environment names exist
    secrets = _client(local_stack, "secretsmanager")
    for name, value in template.lambda_environment().items():
        if name.endswith("_SECRET_ID"):
            assert secrets.get_secret_value(SecretId=value)["SecretString"]


def test_a_second_stack_in_the_same_process_is_refused(local_stack: LocalStack, tmp_path: Path) -> None:
    # Given a running stack
    # When another one starts in the same process
    # Then it is refused with a clear error
    with pytest.raises(LocalStackError, match="another LocalStack is running"):
        LocalStack(port=0, state_dir=tmp_path).start()
    assert local_stack.running


# ------------------------------------------------------------------------------------------------
# State survives a restart
# ------------------------------------------------------------------------------------------------


def test_moto_takes_another_port_when_the_last_one_is_taken(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given the port of the last moto server taken by another socket (werkzeug exits when it cannot bind)
    import socket

    from local import aws as local_aws

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        monkeypatch.setattr(local_aws, "_last_port", taken)
        # When a server starts without a port of its own, Then it serves on another one
        server = local_aws.MotoServer()
        server.start()
        try:
            assert server.port != taken
        finally:
            server.stop()


def test_moto_keeps_connections_open_between_calls_and_closes_them_on_stop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given moto's server in this process, and a count of the TCP connections clients open
    import urllib3.connection

    from local import aws as local_aws

    connects: list[int] = []
    original = urllib3.connection.HTTPConnection.connect

    def connect(self: Any) -> None:
        connects.append(1)
        original(self)

    monkeypatch.setattr(urllib3.connection.HTTPConnection, "connect", connect)
    monkeypatch.setattr(
        local_aws, "_last_port", local_aws._last_port
    )  # the session stack's port stays its own
    server = local_aws.MotoServer()
    server.start()
    bucket = f"keep-alive-{uuid.uuid4().hex[:8]}"
    try:
        s3 = local_aws.client("s3", server.url)
        # When one client makes calls of every reply shape: a body, a HEAD (a length but no body), a 204
        s3.create_bucket(Bucket=bucket)
        s3.put_object(Bucket=bucket, Key="k", Body=b"12345")
        assert s3.head_object(Bucket=bucket, Key="k")["ContentLength"] == 5
        assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"12345"
        s3.delete_object(Bucket=bucket, Key="k")
        # Then they all went over one connection
        assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
        assert len(connects) == 1
        s3.delete_bucket(Bucket=bucket)
        # And when the server stops, the connection kept for the client is closed (its thread ends)
        serving = server._server
        assert serving is not None and len(serving.local_connections) == 1  # type: ignore[attr-defined]
        server.stop()
        deadline = time.monotonic() + 5
        while serving.local_connections and time.monotonic() < deadline:  # type: ignore[attr-defined]
            time.sleep(0.05)
        assert not serving.local_connections  # type: ignore[attr-defined]
    finally:
        server.stop()


def test_a_message_sent_with_a_delay_is_handled_when_due(local_stack: LocalStack) -> None:
    # Given a poller on a queue of the stack's moto (a send with a delay wakes no poller: it could find nothing)
    from local.sqs import QueuePoller, SqsSource

    sqs = _client(local_stack, "sqs")
    name = f"later-{uuid.uuid4().hex[:8]}"
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    handled: list[float] = []

    class Function:
        def invoke(self, event: dict[str, Any]) -> None:
            handled.extend(time.monotonic() for _ in event["Records"])

    source = SqsSource("Fn", "Later", f"arn:aws:sqs:us-east-1:123456789012:{name}", url, concurrency=2)
    poller = QueuePoller(source, Function(), local_stack.moto_url, "us-east-1", idle_seconds=0.2)  # type: ignore[arg-type]
    poller.start()
    try:
        # When a message is sent with a delay of one second (a delivery retry)
        sent = time.monotonic()
        sqs.send_message(QueueUrl=url, MessageBody="retry", DelaySeconds=1)
        deadline = sent + 10
        while not handled and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        poller.stop()
        sqs.delete_queue(QueueUrl=url)
    # Then the poller's regular polls hand it over once it is due, not before
    assert len(handled) == 1 and 1.0 <= handled[0] - sent < 3.0


def test_changes_are_snapshotted_shortly_after_the_last_write(local_stack: LocalStack) -> None:
    # Given an item written through moto
    table = _template().physical_name("CandidatesTable")
    marker = f"SNAP#{uuid.uuid4().hex}"
    _client(local_stack, "dynamodb").put_item(TableName=table, Item={"pk": {"S": marker}, "sk": {"S": "X"}})

    # When the debounce delay passes
    state_file = local_stack.state_dir / "state.json"
    deadline = time.monotonic() + 10
    while marker not in state_file.read_text() and time.monotonic() < deadline:
        time.sleep(0.2)

    # Then state.json holds it
    saved = json.loads(state_file.read_text())
    assert {"pk": {"S": marker}, "sk": {"S": "X"}} in saved["dynamodb"][table]


def test_items_objects_secrets_outbox_and_admin_key_survive_a_restart(local_stack: LocalStack) -> None:
    # Given an item (with binary and nested values), an S3 object and an e-mail in the running stack
    template = _template()
    table = template.physical_name("DirectoryTable")
    item = {
        "pk": {"S": f"PERSIST#{uuid.uuid4().hex}"},
        "sk": {"S": "ITEM"},
        "blob": {"B": b"\x00\xffbinary"},
        "nested": {"M": {"n": {"N": "42"}, "l": {"L": [{"S": "a"}, {"BS": [b"\x01"]}]}}},
    }
    _client(local_stack, "dynamodb").put_item(TableName=table, Item=item)
    _client(local_stack, "s3").create_bucket(Bucket="persist-check")
    _client(local_stack, "s3").put_object(
        Bucket="persist-check", Key="a/b.bin", Body=b"\x89PNG", ContentType="image/png"
    )
    subject = f"persisted {uuid.uuid4().hex}"
    _send_simple(local_stack, subject=subject)
    secret_names = [v for k, v in template.lambda_environment().items() if k.endswith("_SECRET_ID")]
    secrets_before = {
        name: _client(local_stack, "secretsmanager").get_secret_value(SecretId=name)["SecretString"]
        for name in secret_names
    }
    admin_key, state_dir = local_stack.admin_key, local_stack.state_dir
    keep_alive = requests.Session()
    assert keep_alive.get(f"{local_stack.base_url}/local/outbox.json", timeout=10).status_code == 200

    # When the stack stops and a new one starts on the same state directory
    local_stack.stop()
    try:
        with LocalStack(port=0, state_dir=state_dir) as again:
            # Then everything is there again, and the admin key is the same
            restored = _client(again, "dynamodb").get_item(
                TableName=table, Key={k: item[k] for k in ("pk", "sk")}
            )
            assert restored["Item"] == item
            body = _client(again, "s3").get_object(Bucket="persist-check", Key="a/b.bin")
            assert body["Body"].read() == b"\x89PNG"
            assert body["ContentType"] == "image/png"
            for name, value in secrets_before.items():
                assert (
                    _client(again, "secretsmanager").get_secret_value(SecretId=name)["SecretString"] == value
                )
            assert any(message["subject"] == subject for message in again.outbox())
            assert again.admin_key == admin_key
            assert (state_dir / "admin-api-key").read_text().strip() == admin_key
    finally:
        local_stack.start()  # the session's stack, back for the other tests
    assert local_stack.admin_key == admin_key
    # And a client's keep-alive connection from before the restart does not get a stale answer
    assert keep_alive.get(f"{local_stack.base_url}/local/outbox.json", timeout=10).status_code == 200


def test_local_engine_secret_chooses_the_engine_secret(
    local_stack: LocalStack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given LOCAL_ENGINE_SECRET, when a stack starts (the session's one stopped: one stack per process)
    chosen = f"engine-{uuid.uuid4().hex}"
    local_stack.stop()
    try:
        monkeypatch.setenv("LOCAL_ENGINE_SECRET", chosen)
        with LocalStack(port=0, state_dir=tmp_path / ".local", snapshot_delay=0) as stack:
            # Then it is the engine's secret, written where the README says
            assert stack.engine_secret == chosen
            assert (tmp_path / ".local" / "engine-secret").read_text().strip() == chosen
            # And POST /v1/results signed with it gets past the signature check; another secret does not
            body = json.dumps({"TestID": "NO-SUCH-ID", "Status": "Started"})

            def post(secret: str, stamp: str) -> requests.Response:
                mac = hmac.new(secret.encode(), f"{stamp}.{body}".encode(), hashlib.sha256).hexdigest()
                headers = {
                    "content-type": "application/json",
                    "x-timestamp": stamp,
                    "x-signature": f"v1={mac}",
                }
                return requests.post(f"{stack.base_url}/v1/results", data=body, headers=headers, timeout=30)

            now = int(time.time())
            accepted = post(chosen, str(now))
            assert accepted.status_code == 400 and "TestID: unknown test ID" in accepted.text, accepted.text
            assert post("another-secret", str(now - 1)).status_code == 401
    finally:
        monkeypatch.delenv("LOCAL_ENGINE_SECRET", raising=False)
        local_stack.start()  # the session's stack, back for the other tests, with its own secret
    assert local_stack.engine_secret != chosen


# ------------------------------------------------------------------------------------------------
# The SES outbox
# ------------------------------------------------------------------------------------------------


def _send_simple(stack: LocalStack, *, subject: str, text: str = "Hello", html: str = "<p>Hello</p>") -> str:
    response = _client(stack, "sesv2").send_email(
        FromEmailAddress="Gateway <noreply@gateway.example>",
        Destination={
            "ToAddresses": ["candidate@example.com"],
            "CcAddresses": ["admin@example.com"],
            "BccAddresses": ["audit@example.com"],
        },
        Content={
            "Simple": {
                "Subject": {"Data": subject},
                "Body": {"Text": {"Data": text}, "Html": {"Data": html}},
            }
        },
    )
    return str(response["MessageId"])


def test_sent_emails_show_in_the_outbox_newest_first(local_stack: LocalStack) -> None:
    # Given two e-mails sent with sesv2 through moto
    first, second = f"first {uuid.uuid4().hex}", f"second {uuid.uuid4().hex}"
    _send_simple(local_stack, subject=first)
    _send_simple(
        local_stack, subject=second, text="Your test is ready.", html="<p>Your <b>test</b> is ready.</p>"
    )

    # When the outbox is read over HTTP
    response = requests.get(f"{local_stack.base_url}/local/outbox.json", timeout=10)

    # Then both are there, newest first, with every field
    assert response.status_code == 200
    messages = response.json()
    subjects = [message["subject"] for message in messages]
    assert subjects.index(second) < subjects.index(first)
    newest = messages[subjects.index(second)]
    assert newest["from"] == "Gateway <noreply@gateway.example>"
    assert newest["to"] == ["candidate@example.com"]
    assert newest["cc"] == ["admin@example.com"]
    assert newest["bcc"] == ["audit@example.com"]
    assert newest["text"] == "Your test is ready."
    assert newest["html"] == "<p>Your <b>test</b> is ready.</p>"
    assert newest["time"].endswith("Z")
    # And the HTML page lists them too
    page = requests.get(f"{local_stack.base_url}/local/outbox", timeout=10)
    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    assert second in page.text and first in page.text
    assert page.text.index(second) < page.text.index(first)


def test_raw_emails_are_parsed_into_the_outbox(local_stack: LocalStack) -> None:
    # Given a raw MIME e-mail with text and HTML parts and a Bcc only on the envelope
    subject = f"raw {uuid.uuid4().hex}"
    raw = textwrap.dedent(f"""\
        From: Gateway <noreply@gateway.example>
        To: Candidate <candidate@example.com>
        Cc: admin@example.com
        Subject: {subject}
        MIME-Version: 1.0
        Content-Type: multipart/alternative; boundary="b1"

        --b1
        Content-Type: text/plain; charset=utf-8

        Plain body
        --b1
        Content-Type: text/html; charset=utf-8

        <p>HTML body</p>
        --b1--
        """)

    # When it is sent with sesv2 Raw content
    _client(local_stack, "sesv2").send_email(
        FromEmailAddress="noreply@gateway.example",
        Destination={"ToAddresses": ["candidate@example.com"], "BccAddresses": ["audit@example.com"]},
        Content={"Raw": {"Data": raw.encode()}},
    )

    # Then the outbox has it with addresses and both bodies
    (message,) = [m for m in local_stack.outbox() if m["subject"] == subject]
    assert message["to"] == ["candidate@example.com"]
    assert message["cc"] == ["admin@example.com"]
    assert message["bcc"] == ["audit@example.com"]
    assert message["text"].strip() == "Plain body"
    assert message["html"].strip() == "<p>HTML body</p>"


# ------------------------------------------------------------------------------------------------
# The HTTP front on the real template
# ------------------------------------------------------------------------------------------------


def test_an_unknown_path_gets_the_template_gateway_response(local_stack: LocalStack) -> None:
    # Given a path no function declares
    # When it is requested
    response = requests.get(f"{local_stack.base_url}/no/such/route", timeout=10)

    # Then API Gateway's MISSING_AUTHENTICATION_TOKEN response from the template answers
    assert response.status_code == 404
    assert response.headers["Content-Type"] == "application/json"
    assert response.json() == _gateway_response_body("MISSING_AUTHENTICATION_TOKEN")


def test_a_body_over_10_mib_gets_the_template_gateway_response(local_stack: LocalStack) -> None:
    # Given a request body just over API Gateway's limit
    body = b"x" * (MAX_BODY_BYTES + 1)

    # When it is posted to a real route
    response = requests.post(f"{local_stack.base_url}/v1/org-units", data=body, timeout=30)

    # Then the REQUEST_TOO_LARGE response from the template answers
    assert response.status_code == 413
    assert response.json() == _gateway_response_body("REQUEST_TOO_LARGE")


def test_health_is_served_by_the_template_function(local_stack: LocalStack) -> None:
    # Given the docs function's handler exists
    template = _template()
    (health,) = [route for route in template.api_routes() if route.path == "/health"]
    if not template.functions()[health.function_id].handler_file.exists():
        pytest.skip("the docs handler is not written yet")

    # When /health is requested
    response = requests.get(f"{local_stack.base_url}/health", timeout=10)

    # Then the handler answers
    assert response.status_code == 200
    assert response.headers["x-amzn-RequestId"]


# ------------------------------------------------------------------------------------------------
# The HTTP front's API Gateway behaviour, on a small template of its own
# ------------------------------------------------------------------------------------------------

_FRONT_TEMPLATE = """\
Transform: AWS::Serverless-2016-10-31
Parameters:
  Stage: {Type: String, Default: test}
Globals:
  Function:
    Runtime: python3.13
    Timeout: 7
Resources:
  EchoApi:
    Type: AWS::Serverless::Api
    Properties:
      StageName: !Ref Stage
      GatewayResponses:
        MISSING_AUTHENTICATION_TOKEN:
          StatusCode: 404
          ResponseParameters:
            Headers:
              X-Local: "'yes'"
          ResponseTemplates:
            application/json: '{"missing": true}'
        DEFAULT_5XX:
          ResponseTemplates:
            application/json: '{"failed": "$context.requestId"}'
  EchoFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: echo
      Handler: app.handler
      MemorySize: 256
      Events:
        Item: {Type: Api, Properties: {RestApiId: !Ref EchoApi, Path: "/items/{itemId}", Method: GET}}
        Files: {Type: Api, Properties: {RestApiId: !Ref EchoApi, Path: "/files/{path+}", Method: ANY}}
  SpecialFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: special
      Handler: app.handler
      Events:
        Special: {Type: Api, Properties: {RestApiId: !Ref EchoApi, Path: /items/special, Method: ANY}}
"""

_ECHO_HANDLER = """\
import base64
import json


def handler(event, context):
    if event["path"] == "/files/boom":
        raise RuntimeError("boom")
    if event["path"] == "/files/malformed":
        return "not a proxy response"
    if event["path"] == "/files/binary":
        return {
            "statusCode": 201,
            "isBase64Encoded": True,
            "body": base64.b64encode(b"\\x89PNG\\xff").decode(),
            "headers": {"Content-Type": "image/png"},
            "multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"]},
        }
    facts = {
        "function_name": context.function_name,
        "function_version": context.function_version,
        "memory_limit_in_mb": context.memory_limit_in_mb,
        "invoked_function_arn": context.invoked_function_arn,
        "aws_request_id": context.aws_request_id,
        "log_group_name": context.log_group_name,
        "log_stream_name": context.log_stream_name,
        "remaining": context.get_remaining_time_in_millis(),
    }
    return {"statusCode": 200, "body": json.dumps({"event": event, "context": facts, "module": __name__})}
"""

_SPECIAL_HANDLER = """\
def handler(event, context):
    return {"statusCode": 200, "headers": {"Content-Type": "text/plain"}, "body": "special " + __name__}
"""


@pytest.fixture
def echo_front(tmp_path: Path) -> Iterator[FrontServer]:
    (tmp_path / "template.yaml").write_text(_FRONT_TEMPLATE)
    for directory, code in (("echo", _ECHO_HANDLER), ("special", _SPECIAL_HANDLER)):
        (tmp_path / directory).mkdir()
        (tmp_path / directory / "app.py").write_text(code)
    template = Template.load(tmp_path / "template.yaml")
    front = FrontServer(
        template, LambdaRuntime(template.functions(), template.region, template.account_id), port=0
    )
    front.start()
    try:
        yield front
    finally:
        front.stop()


def test_the_front_answers_503_until_the_stack_is_ready(echo_front: FrontServer) -> None:
    # Given a front that is not ready yet
    # When any route is requested
    response = requests.get(f"{echo_front.base_url}/items/1", timeout=10)
    # Then it answers 503
    assert response.status_code == 503
    # And once ready, the route answers
    echo_front.ready.set()
    assert requests.get(f"{echo_front.base_url}/items/1", timeout=10).status_code == 200


def test_the_handler_gets_a_rest_api_proxy_event_and_a_lambda_context(echo_front: FrontServer) -> None:
    echo_front.ready.set()
    # Given a request with an encoded path parameter, repeated query parameters and a repeated header
    connection = http.client.HTTPConnection("127.0.0.1", echo_front.port, timeout=10)
    connection.putrequest("GET", "/items/a%20b?x=1&x=2&empty=")
    connection.putheader("X-Multi", "one")
    connection.putheader("X-Multi", "two")
    connection.endheaders()

    # When the front calls the handler
    response = connection.getresponse()
    payload = json.loads(response.read())
    connection.close()

    # Then the event is an API Gateway REST (v1) proxy event
    assert response.status == 200
    event, context = payload["event"], payload["context"]
    assert event["resource"] == "/items/{itemId}"
    assert event["path"] == "/items/a b"
    assert event["httpMethod"] == "GET"
    assert event["pathParameters"] == {"itemId": "a b"}
    assert event["queryStringParameters"] == {"x": "2", "empty": ""}
    assert event["multiValueQueryStringParameters"] == {"x": ["1", "2"], "empty": [""]}
    assert event["headers"]["X-Multi"] == "two"
    assert event["multiValueHeaders"]["X-Multi"] == ["one", "two"]
    assert event["stageVariables"] is None
    assert event["body"] is None and event["isBase64Encoded"] is False
    request_context = event["requestContext"]
    assert request_context["stage"] == "test"
    assert request_context["resourcePath"] == "/items/{itemId}"
    assert request_context["httpMethod"] == "GET"
    assert request_context["path"] == "/items/a b"  # served at the root: no stage prefix
    assert request_context["identity"]["sourceIp"] == "127.0.0.1"
    assert uuid.UUID(request_context["requestId"])
    assert abs(request_context["requestTimeEpoch"] / 1000 - time.time()) < 60
    assert response.getheader("x-amzn-RequestId") == request_context["requestId"]
    # And the context is a Lambda context of the template's function
    assert context["function_name"] == "EchoFunction"
    assert context["function_version"] == "$LATEST"
    assert context["memory_limit_in_mb"] == 256
    assert context["invoked_function_arn"].endswith(":function:EchoFunction")
    assert context["log_group_name"] == "/aws/lambda/EchoFunction"
    assert uuid.UUID(context["aws_request_id"]) and context["log_stream_name"]
    assert 0 < context["remaining"] <= 7000


def test_literal_routes_win_and_each_app_py_is_its_own_module(echo_front: FrontServer) -> None:
    echo_front.ready.set()
    # When a path matches both /items/special and /items/{itemId}
    special = requests.get(f"{echo_front.base_url}/items/special", timeout=10)
    echo = requests.get(f"{echo_front.base_url}/items/other", timeout=10).json()
    # Then the literal route wins, and the two app.py files are separate modules
    assert special.text.startswith("special ")
    assert special.text.removeprefix("special ") != echo["module"]


def test_greedy_paths_binary_bodies_and_binary_responses(echo_front: FrontServer) -> None:
    echo_front.ready.set()
    # Given a body that is not UTF-8 on a {proxy+} route
    response = requests.put(f"{echo_front.base_url}/files/a/b/c.txt", data=b"\xff\x00\xfe", timeout=10)
    event = response.json()["event"]
    # Then the handler gets it base64-encoded with the greedy parameter
    assert event["resource"] == "/files/{path+}"
    assert event["pathParameters"] == {"path": "a/b/c.txt"}
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == b"\xff\x00\xfe"
    # And a base64 response is decoded, with multi-value headers
    binary = requests.get(f"{echo_front.base_url}/files/binary", timeout=10)
    assert binary.status_code == 201
    assert binary.content == b"\x89PNG\xff"
    assert binary.headers["Content-Type"] == "image/png"
    assert binary.raw.headers.getlist("Set-Cookie") == ["a=1", "b=2"]


def test_unmatched_method_and_failing_handlers_get_gateway_responses(echo_front: FrontServer) -> None:
    echo_front.ready.set()
    # When a route is requested with a method it does not declare
    wrong_method = requests.post(f"{echo_front.base_url}/items/1", timeout=10)
    # Then the MISSING_AUTHENTICATION_TOKEN response answers, with its headers
    assert wrong_method.status_code == 404
    assert wrong_method.json() == {"missing": True}
    assert wrong_method.headers["X-Local"] == "yes"
    # When the handler raises, or answers something that is not a proxy response
    for path in ("/files/boom", "/files/malformed"):
        failed = requests.get(f"{echo_front.base_url}{path}", timeout=10)
        # Then DEFAULT_5XX answers with 502
        assert failed.status_code == 502
        assert failed.json() == {"failed": failed.headers["x-amzn-RequestId"]}


def test_local_routes_can_be_added(echo_front: FrontServer) -> None:
    echo_front.ready.set()
    # Given a local-only route
    echo_front.add_local_route(
        "POST",
        r"/local/take/(?P<token>[^/]+)",
        lambda request: (200, {"X-Token": request.match["token"]}, request.body),
    )
    # When it is requested
    response = requests.post(f"{echo_front.base_url}/local/take/abc", data=b"hi", timeout=10)
    # Then its handler answers
    assert response.status_code == 200
    assert response.headers["X-Token"] == "abc"
    assert response.content == b"hi"
