"""Read ``template.yaml`` and resolve CloudFormation intrinsics for local use.

The template is the one source of truth: tables, indexes, queues, buckets, routes and triggers are
read from it here and nowhere else. Physical names are deterministic so that a restarted stack (or
code that cached a name) finds the same resources again:

=============================  ==================================================  ======================
Resource type                  ``Ref``                                             physical name
=============================  ==================================================  ======================
AWS::DynamoDB::Table           table name                                          TableName or logical id
AWS::SQS::Queue                queue URL (``<endpoint>/<account>/<name>``)         QueueName or logical id
AWS::S3::Bucket                bucket name                                         BucketName or
                                                                                   ``<logical id>-local``
                                                                                   (lower case)
AWS::SNS::Topic                topic ARN                                           TopicName or logical id
AWS::SecretsManager::Secret    secret *name* (accepted wherever an id is)          Name or logical id
AWS::Serverless::Function      function name                                       FunctionName or logical id
=============================  ==================================================  ======================
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

DEFAULT_REGION = "us-east-1"
DEFAULT_ACCOUNT_ID = "123456789012"  # moto's default account
DEFAULT_STACK_NAME = "local"
IMPLICIT_API = "ServerlessRestApi"  # SAM's implicit API when an Api event has no RestApiId

TABLE = "AWS::DynamoDB::Table"
QUEUE = "AWS::SQS::Queue"
BUCKET = "AWS::S3::Bucket"
TOPIC = "AWS::SNS::Topic"
SUBSCRIPTION = "AWS::SNS::Subscription"
SECRET = "AWS::SecretsManager::Secret"  # noqa: S105 - a resource type, not a password
EMAIL_IDENTITY = "AWS::SES::EmailIdentity"
FUNCTION = "AWS::Serverless::Function"
SERVERLESS_API = "AWS::Serverless::Api"
LAYER = "AWS::Serverless::LayerVersion"


class TemplateError(ValueError):
    """The template uses something the local stack cannot resolve."""


# ------------------------------------------------------------------------------------------------
# YAML loading with CloudFormation short tags
# ------------------------------------------------------------------------------------------------


class CfnLoader(yaml.SafeLoader):
    """A safe YAML loader reading CloudFormation short tags in long form (``!Ref X`` → ``{"Ref": "X"}``)."""


def _construct_tag(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    elif isinstance(node, yaml.MappingNode):
        value = loader.construct_mapping(node, deep=True)
    else:  # pragma: no cover - yaml has no other node kinds
        raise TemplateError(f"unsupported node for !{tag_suffix}")
    if tag_suffix == "Ref":
        return {"Ref": value}
    if tag_suffix == "Condition":
        return {"Condition": value}
    if tag_suffix == "GetAtt" and isinstance(value, str):
        logical_id, _, attribute = value.partition(".")
        value = [logical_id, attribute]
    return {f"Fn::{tag_suffix}": value}


CfnLoader.add_multi_constructor("!", _construct_tag)


def load_yaml(path: Path | str) -> dict[str, Any]:
    """Load a CloudFormation/SAM YAML (or JSON) file into plain Python data with long-form intrinsics."""
    text = Path(path).read_text(encoding="utf-8")
    data = yaml.load(text, Loader=CfnLoader)  # noqa: S506 - CfnLoader is a SafeLoader subclass
    if not isinstance(data, dict):
        raise TemplateError(f"{path}: not a CloudFormation template")
    return data


# ------------------------------------------------------------------------------------------------
# Model of what the local stack needs
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FunctionSpec:
    """One ``AWS::Serverless::Function`` with Globals merged in and properties resolved."""

    logical_id: str
    name: str
    code_dir: Path
    handler: str
    runtime: str
    memory_mb: int
    timeout_s: int
    environment: dict[str, str]
    properties: dict[str, Any] = field(repr=False)

    @property
    def handler_file(self) -> Path:
        """The Python file the handler lives in (``app.lambda_handler`` → ``<CodeUri>/app.py``)."""
        module, _, _ = self.handler.rpartition(".")
        if not module:
            raise TemplateError(f"{self.logical_id}: Handler {self.handler!r} is not <module>.<function>")
        base = self.code_dir / module.replace(".", "/")
        package_init = base / "__init__.py"
        return package_init if package_init.exists() else base.with_suffix(".py")

    @property
    def handler_function(self) -> str:
        return self.handler.rpartition(".")[2]


@dataclass(frozen=True)
class EventSource:
    """One entry of a function's ``Events`` (Api, SQS, S3, Schedule, SNS, ...), properties resolved."""

    function_id: str
    name: str
    type: str
    properties: dict[str, Any]
    raw_properties: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class ApiRoute:
    """An ``Api`` event: a REST API (v1 payload) route to a function."""

    function_id: str
    event_name: str
    api_id: str
    path: str
    method: str  # upper case; ANY matches every method


@dataclass(frozen=True)
class GatewayResponse:
    status: int | None
    templates: dict[str, str]
    headers: dict[str, str]


# ------------------------------------------------------------------------------------------------
# The template and its resolver
# ------------------------------------------------------------------------------------------------


class _NoValue:
    """``AWS::NoValue``: removes the property (or list item) it stands in."""

    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE = _NoValue()

_SUB_VARIABLE = re.compile(r"\$\{(!?)([^}]*)\}")


class Template:
    """A SAM/CloudFormation template with local resolution of parameters, conditions and intrinsics.

    ``endpoint_url`` (the local AWS endpoint) only matters for values that embed it (queue URLs); set it
    once the endpoint is known.
    """

    def __init__(
        self,
        data: dict[str, Any],
        *,
        path: Path | None = None,
        parameters: Mapping[str, Any] | None = None,
        region: str = DEFAULT_REGION,
        account_id: str = DEFAULT_ACCOUNT_ID,
        stack_name: str = DEFAULT_STACK_NAME,
        endpoint_url: str | None = None,
    ) -> None:
        self.data = data
        self.path = path
        self.root = path.parent if path else Path.cwd()
        self.region = region
        self.account_id = account_id
        self.stack_name = stack_name
        self.endpoint_url = endpoint_url
        self.resources_raw: dict[str, dict[str, Any]] = dict(data.get("Resources") or {})
        self._parameters = self._parameter_values(dict(parameters or {}))
        self._conditions: dict[str, bool] = {}

    @classmethod
    def load(cls, path: Path | str, **kwargs: Any) -> Template:
        path = Path(path).resolve()
        return cls(load_yaml(path), path=path, **kwargs)

    # -- parameters and conditions ---------------------------------------------------------------

    def _parameter_values(self, overrides: dict[str, Any]) -> dict[str, Any]:
        declared: dict[str, Any] = dict(self.data.get("Parameters") or {})
        unknown = sorted(set(overrides) - set(declared))
        if unknown:
            raise TemplateError(f"unknown template parameter(s): {', '.join(unknown)}")
        values: dict[str, Any] = {}
        for name, spec in declared.items():
            spec = spec or {}
            if name in overrides:
                value = overrides[name]
            elif "Default" in spec:
                value = spec["Default"]
            else:
                continue  # resolving a Ref to it raises a clear error
            allowed = spec.get("AllowedValues")
            if allowed is not None and str(value) not in [str(v) for v in allowed]:
                raise TemplateError(f"parameter {name}={value!r} is not one of {allowed}")
            if str(spec.get("Type", "String")).startswith(("CommaDelimitedList", "List<")):
                value = value if isinstance(value, list) else [v.strip() for v in str(value).split(",")]
            elif not isinstance(value, list):
                value = str(value)
            values[name] = value
        return values

    @property
    def parameters(self) -> dict[str, Any]:
        return dict(self._parameters)

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            conditions = self.data.get("Conditions") or {}
            if name not in conditions:
                raise TemplateError(f"unknown condition {name!r}")
            self._conditions[name] = bool(self._evaluate_condition(conditions[name]))
        return self._conditions[name]

    def _evaluate_condition(self, expr: Any) -> bool:
        if isinstance(expr, dict) and len(expr) == 1:
            ((key, arg),) = expr.items()
            if key == "Condition":
                return self.condition(arg)
            if key == "Fn::Equals":
                left, right = (self.resolve(v) for v in arg)
                return str(left) == str(right)
            if key == "Fn::And":
                return all(self._evaluate_condition(v) for v in arg)
            if key == "Fn::Or":
                return any(self._evaluate_condition(v) for v in arg)
            if key == "Fn::Not":
                return not self._evaluate_condition(arg[0])
        value = self.resolve(expr)
        if isinstance(value, bool):
            return value
        if str(value).lower() in ("true", "false"):
            return str(value).lower() == "true"
        raise TemplateError(f"cannot evaluate condition {expr!r}")

    # -- resources -------------------------------------------------------------------------------

    def resources(self, *types: str) -> dict[str, dict[str, Any]]:
        """Resources (raw, unresolved) of the given types whose Condition holds, in template order."""
        found: dict[str, dict[str, Any]] = {}
        for logical_id, resource in self.resources_raw.items():
            if types and resource.get("Type") not in types:
                continue
            condition = resource.get("Condition")
            if condition is not None and not self.condition(condition):
                continue
            found[logical_id] = resource
        return found

    def resource(self, logical_id: str) -> dict[str, Any]:
        try:
            return self.resources_raw[logical_id]
        except KeyError:
            raise TemplateError(f"unknown resource {logical_id!r}") from None

    def resource_type(self, logical_id: str) -> str:
        return str(self.resource(logical_id).get("Type"))

    def properties(self, logical_id: str) -> dict[str, Any]:
        """The resource's properties, intrinsics resolved (``AWS::NoValue`` removed)."""
        resolved = self.resolve(self.resource(logical_id).get("Properties") or {})
        assert isinstance(resolved, dict)
        return resolved

    def physical_name(self, logical_id: str) -> str:
        resource_type = self.resource_type(logical_id)
        raw = self.resource(logical_id).get("Properties") or {}
        name_property = {
            TABLE: "TableName",
            QUEUE: "QueueName",
            BUCKET: "BucketName",
            TOPIC: "TopicName",
            SECRET: "Name",
            FUNCTION: "FunctionName",
            "AWS::Lambda::Function": "FunctionName",
            "AWS::Events::Rule": "Name",
            LAYER: "LayerName",
        }.get(resource_type)
        if name_property and raw.get(name_property) is not None:
            return str(self.resolve(raw[name_property]))
        if resource_type == BUCKET:
            return f"{logical_id.lower()}-local"
        if resource_type in (QUEUE, TOPIC) and self._truthy(raw.get("FifoQueue", raw.get("FifoTopic"))):
            return f"{logical_id}.fifo"
        return logical_id

    def _truthy(self, value: Any) -> bool:
        value = self.resolve(value)
        return value is True or str(value).lower() == "true"

    def arn(self, logical_id: str) -> str:
        name = self.physical_name(logical_id)
        region, account = self.region, self.account_id
        resource_type = self.resource_type(logical_id)
        match resource_type:
            case "AWS::DynamoDB::Table":
                return f"arn:aws:dynamodb:{region}:{account}:table/{name}"
            case "AWS::SQS::Queue":
                return f"arn:aws:sqs:{region}:{account}:{name}"
            case "AWS::S3::Bucket":
                return f"arn:aws:s3:::{name}"
            case "AWS::SNS::Topic":
                return f"arn:aws:sns:{region}:{account}:{name}"
            case "AWS::SecretsManager::Secret":
                return f"arn:aws:secretsmanager:{region}:{account}:secret:{name}"
            case "AWS::Serverless::Function" | "AWS::Lambda::Function":
                return f"arn:aws:lambda:{region}:{account}:function:{name}"
            case "AWS::Serverless::LayerVersion" | "AWS::Lambda::LayerVersion":
                return f"arn:aws:lambda:{region}:{account}:layer:{name}:1"
            case "AWS::Events::Rule":
                return f"arn:aws:events:{region}:{account}:rule/{name}"
            case "AWS::IAM::Role":
                return f"arn:aws:iam::{account}:role/{name}"
            case _:
                service = resource_type.split("::")[1].lower() if "::" in resource_type else "local"
                return f"arn:aws:{service}:{region}:{account}:{name}"

    def queue_url(self, logical_id: str) -> str:
        endpoint = (self.endpoint_url or f"https://sqs.{self.region}.amazonaws.com").rstrip("/")
        return f"{endpoint}/{self.account_id}/{self.physical_name(logical_id)}"

    def ref(self, name: str) -> Any:
        pseudo = self._pseudo_parameter(name)
        if pseudo is not None:
            return pseudo
        if name in self._parameters:
            return self._parameters[name]
        if name in (self.data.get("Parameters") or {}):
            raise TemplateError(f"parameter {name!r} has no Default and no value was given")
        resource_type = self.resource_type(name)
        if resource_type == QUEUE:
            return self.queue_url(name)
        if resource_type in (TOPIC, LAYER, "AWS::Lambda::LayerVersion", SUBSCRIPTION):
            return self.arn(name)
        if resource_type == SERVERLESS_API or resource_type == "AWS::ApiGateway::RestApi":
            return name.lower()
        return self.physical_name(name)

    def get_att(self, logical_id: str, attribute: str) -> Any:
        resource_type = self.resource_type(logical_id)
        name = self.physical_name(logical_id)
        if attribute == "Arn" or (resource_type == TOPIC and attribute == "TopicArn"):
            return self.arn(logical_id)
        simple: dict[tuple[str, str], Any] = {
            (QUEUE, "QueueName"): name,
            (QUEUE, "QueueUrl"): self.queue_url(logical_id) if resource_type == QUEUE else None,
            (TOPIC, "TopicName"): name,
            (TABLE, "StreamArn"): f"{self.arn(logical_id)}/stream/local",
            (BUCKET, "DomainName"): f"{name}.s3.amazonaws.com",
            (BUCKET, "RegionalDomainName"): f"{name}.s3.{self.region}.amazonaws.com",
            (BUCKET, "WebsiteURL"): f"http://{name}.s3-website-{self.region}.amazonaws.com",
            (SECRET, "Id"): name,
            (SERVERLESS_API, "RootResourceId"): "root",
        }
        if (resource_type, attribute) in simple:
            return simple[(resource_type, attribute)]
        if attribute == "Name":
            return name
        raise TemplateError(f"Fn::GetAtt {logical_id}.{attribute} is not supported locally ({resource_type})")

    def _pseudo_parameter(self, name: str) -> Any:
        return {
            "AWS::Region": self.region,
            "AWS::AccountId": self.account_id,
            "AWS::StackName": self.stack_name,
            "AWS::StackId": (
                f"arn:aws:cloudformation:{self.region}:{self.account_id}:stack/{self.stack_name}/local"
            ),
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NotificationARNs": [],
            "AWS::NoValue": NO_VALUE,
        }.get(name)

    # -- intrinsic resolution --------------------------------------------------------------------

    def resolve(self, value: Any) -> Any:
        """Resolve every intrinsic in ``value`` (recursively) to plain data."""
        if isinstance(value, list):
            items = [self.resolve(item) for item in value]
            return [item for item in items if item is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref" or key.startswith("Fn::") or (key == "Condition" and not isinstance(arg, dict)):
                return self._intrinsic(key, arg)
        resolved = {key: self.resolve(item) for key, item in value.items()}
        return {key: item for key, item in resolved.items() if item is not NO_VALUE}

    def _intrinsic(self, key: str, arg: Any) -> Any:
        if key == "Ref":
            return self.ref(str(self.resolve(arg)))
        if key == "Condition":
            return self.condition(str(arg))
        function = key.removeprefix("Fn::")
        match function:
            case "GetAtt":
                parts = arg.split(".", 1) if isinstance(arg, str) else [self.resolve(p) for p in arg]
                return self.get_att(str(parts[0]), str(parts[1]))
            case "Sub":
                return self._sub(arg)
            case "If":
                condition, if_true, if_false = arg
                return self.resolve(if_true if self.condition(condition) else if_false)
            case "Equals" | "And" | "Or" | "Not":
                return self._evaluate_condition({key: arg})
            case "Join":
                delimiter, items = arg
                return str(delimiter).join(str(v) for v in self._as_list(items))
            case "Select":
                index, items = arg
                return self._as_list(items)[int(self.resolve(index))]
            case "Split":
                delimiter, source = arg
                return str(self.resolve(source)).split(str(delimiter))
            case "FindInMap":
                mapping, top, second = (self.resolve(v) for v in arg[:3])
                try:
                    return self.resolve(self.data["Mappings"][mapping][top][second])
                except KeyError:
                    if len(arg) > 3 and isinstance(arg[3], dict) and "DefaultValue" in arg[3]:
                        return self.resolve(arg[3]["DefaultValue"])
                    raise TemplateError(f"Fn::FindInMap {mapping}/{top}/{second}: no such entry") from None
            case "Base64":
                return base64.b64encode(str(self.resolve(arg)).encode()).decode()
            case "GetAZs":
                return [f"{self.region}{zone}" for zone in "abc"]
            case "ToJsonString":
                return json.dumps(self.resolve(arg), separators=(",", ":"))
            case "Length":
                return len(self._as_list(arg))
        raise TemplateError(f"{key} is not supported by the local stack")

    def _as_list(self, value: Any) -> list[Any]:
        resolved = self.resolve(value)
        if not isinstance(resolved, list):
            raise TemplateError(f"expected a list, got {resolved!r}")
        return resolved

    def _sub(self, arg: Any) -> str:
        if isinstance(arg, list):
            text, variables = arg[0], {k: self.resolve(v) for k, v in (arg[1] or {}).items()}
        else:
            text, variables = arg, {}

        def replace(match: re.Match[str]) -> str:
            literal, expression = match.group(1), match.group(2).strip()
            if literal:
                return "${" + expression + "}"
            if expression in variables:
                return str(variables[expression])
            if "." in expression and not expression.startswith("AWS::"):
                logical_id, _, attribute = expression.partition(".")
                return str(self.get_att(logical_id, attribute))
            return str(self.ref(expression))

        return _SUB_VARIABLE.sub(replace, str(text))

    # -- functions, events, routes ---------------------------------------------------------------

    def _globals(self, section: str) -> dict[str, Any]:
        return dict((self.data.get("Globals") or {}).get(section) or {})

    def _merged_function_properties(self, logical_id: str) -> dict[str, Any]:
        merged = self._globals("Function")
        own = dict(self.resource(logical_id).get("Properties") or {})
        for key, value in own.items():
            if key == "Environment":
                variables = dict((merged.get("Environment") or {}).get("Variables") or {})
                variables.update((value or {}).get("Variables") or {})
                merged["Environment"] = {**(value or {}), "Variables": variables}
            elif key == "Layers":
                merged["Layers"] = [*(merged.get("Layers") or []), *(value or [])]
            else:
                merged[key] = value
        return merged

    def functions(self) -> dict[str, FunctionSpec]:
        specs: dict[str, FunctionSpec] = {}
        for logical_id in self.resources(FUNCTION):
            raw = self._merged_function_properties(logical_id)
            if str(self.resolve(raw.get("PackageType", "Zip"))) != "Zip":
                raise TemplateError(f"{logical_id}: only Zip functions can run locally")
            code_uri = self.resolve(raw.get("CodeUri"))
            if not isinstance(code_uri, str):
                raise TemplateError(f"{logical_id}: CodeUri must be a local directory, got {code_uri!r}")
            variables = self.resolve((raw.get("Environment") or {}).get("Variables") or {})
            specs[logical_id] = FunctionSpec(
                logical_id=logical_id,
                name=self.physical_name(logical_id),
                code_dir=(self.root / code_uri).resolve(),
                handler=str(self.resolve(raw.get("Handler"))),
                runtime=str(self.resolve(raw.get("Runtime", ""))),
                memory_mb=int(self.resolve(raw.get("MemorySize", 128))),
                timeout_s=int(self.resolve(raw.get("Timeout", 3))),
                environment={k: _env_string(v) for k, v in variables.items()},
                properties=raw,
            )
        return specs

    def lambda_environment(self) -> dict[str, str]:
        """All functions' environment variables, merged; conflicting values are an error.

        Locally every function shares one process (and so one ``os.environ``): two functions that set
        the same variable to different values cannot both be served.
        """
        merged: dict[str, str] = {}
        owners: dict[str, str] = {}
        for spec in self.functions().values():
            for key, value in spec.environment.items():
                if key in merged and merged[key] != value:
                    raise TemplateError(
                        f"environment variable {key} is {merged[key]!r} in {owners[key]} but {value!r} in "
                        f"{spec.logical_id}; the local stack runs every function in one process, so each "
                        "variable needs one value"
                    )
                merged[key] = value
                owners.setdefault(key, spec.logical_id)
        return merged

    def event_sources(self) -> dict[str, list[EventSource]]:
        """Every function event, grouped by event type (``Api``, ``SQS``, ``S3``, ``Schedule``, ...)."""
        by_type: dict[str, list[EventSource]] = {}
        for logical_id in self.resources(FUNCTION):
            events = self._merged_function_properties(logical_id).get("Events") or {}
            for event_name, event in events.items():
                raw = dict(event.get("Properties") or {})
                source = EventSource(
                    function_id=logical_id,
                    name=event_name,
                    type=str(event.get("Type")),
                    properties=self.resolve(raw),
                    raw_properties=raw,
                )
                by_type.setdefault(source.type, []).append(source)
        return by_type

    def api_routes(self) -> list[ApiRoute]:
        routes = []
        for source in self.event_sources().get("Api", []):
            rest_api = source.raw_properties.get("RestApiId")
            if isinstance(rest_api, dict) and "Ref" in rest_api:
                api_id = str(rest_api["Ref"])
            elif isinstance(rest_api, str):
                api_id = rest_api
            else:
                api_id = IMPLICIT_API
            routes.append(
                ApiRoute(
                    function_id=source.function_id,
                    event_name=source.name,
                    api_id=api_id,
                    path=str(source.properties["Path"]),
                    method=str(source.properties.get("Method", "ANY")).upper(),
                )
            )
        return routes

    def api_properties(self, api_id: str) -> dict[str, Any]:
        """An API's properties with ``Globals.Api`` merged in (the implicit API has only the globals)."""
        merged: dict[str, Any] = self.resolve(self._globals("Api"))
        if api_id in self.resources_raw:
            merged.update(self.properties(api_id))
        return merged

    def api_stage(self, api_id: str) -> str:
        default = "Prod" if api_id == IMPLICIT_API else "dev"
        return str(self.api_properties(api_id).get("StageName", default))

    def gateway_responses(self, api_id: str) -> dict[str, GatewayResponse]:
        responses: dict[str, GatewayResponse] = {}
        for response_type, spec in (self.api_properties(api_id).get("GatewayResponses") or {}).items():
            spec = spec or {}
            headers = {
                name: str(value).strip("'")
                for name, value in ((spec.get("ResponseParameters") or {}).get("Headers") or {}).items()
            }
            status = spec.get("StatusCode")
            responses[response_type] = GatewayResponse(
                status=int(status) if status is not None else None,
                templates={k: str(v) for k, v in (spec.get("ResponseTemplates") or {}).items()},
                headers=headers,
            )
        return responses

    def dependencies(self, logical_id: str) -> set[str]:
        """Logical ids this resource refers to (Ref, GetAtt, Sub, DependsOn)."""
        resource = self.resource(logical_id)
        found: set[str] = set()
        depends_on = resource.get("DependsOn") or []
        found.update([depends_on] if isinstance(depends_on, str) else depends_on)
        for ref in _references(resource.get("Properties") or {}):
            if ref in self.resources_raw:
                found.add(ref)
        found.discard(logical_id)
        return found

    def creation_order(self, logical_ids: list[str]) -> list[str]:
        """``logical_ids`` ordered so that every resource comes after those it refers to."""
        wanted = set(logical_ids)
        ordered: list[str] = []
        visiting: set[str] = set()

        def visit(logical_id: str) -> None:
            if logical_id in ordered:
                return
            if logical_id in visiting:
                raise TemplateError(f"circular reference through {logical_id}")
            visiting.add(logical_id)
            for dependency in sorted(self.dependencies(logical_id) & wanted):
                visit(dependency)
            visiting.discard(logical_id)
            ordered.append(logical_id)

        for logical_id in logical_ids:
            visit(logical_id)
        return ordered


def _references(value: Any) -> Iterator[str]:
    if isinstance(value, list):
        for item in value:
            yield from _references(item)
    elif isinstance(value, dict):
        for key, arg in value.items():
            if key == "Ref" and isinstance(arg, str):
                yield arg
            elif key == "Fn::GetAtt":
                yield (arg.split(".", 1)[0] if isinstance(arg, str) else str(arg[0]))
            elif key == "Fn::Sub":
                text = arg[0] if isinstance(arg, list) else arg
                for literal, expression in _SUB_VARIABLE.findall(str(text)):
                    if not literal:
                        yield expression.split(".", 1)[0].strip()
                yield from _references(arg[1] if isinstance(arg, list) and len(arg) > 1 else None)
            else:
                yield from _references(arg)


def _env_string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)
