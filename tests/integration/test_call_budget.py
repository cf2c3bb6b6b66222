"""DynamoDB calls per registration, authentication included (counted with botocore event hooks)."""

from gateway import auth, aws


def _counting(stack):
    calls: list[str] = []
    aws.dynamodb().meta.events.register("before-call.dynamodb", lambda model, **_: calls.append(model.name))
    return calls


def test_a_registration_costs_three_calls_cold_and_one_when_the_key_was_seen(stack):
    stack.api.handler("RegistrationFunction")
    calls = _counting(stack)
    auth.key_cache.clear()
    # When a caller whose key is not cached registers a candidate
    assert stack.api.post("/v2/tests/1/register", {"emailId": "a@example.com", "fullName": "A"}).status == 200
    # Then it costs the key lookup, the test catalogue of the unit's path and one transactional upsert
    assert calls == ["GetItem", "BatchGetItem", "TransactWriteItems"]
    # When the same caller registers again within the cache window (same or another candidate)
    calls.clear()
    assert stack.api.post("/v2/tests/1/register", {"emailId": "a@example.com", "fullName": "B"}).status == 200
    assert stack.api.post("/v2/tests/2/register", {"emailId": "b@example.com", "fullName": "B"}).status == 200
    # Then each costs one call (key and catalogue are cached for the window)
    assert calls == ["TransactWriteItems", "TransactWriteItems"]


def test_a_new_key_of_a_unit_whose_catalogue_was_read_costs_two_calls(stack):
    stack.api.handler("RegistrationFunction")
    # Given an instance that registered for this unit a moment ago (its test catalogue is cached)
    assert stack.api.post("/v2/tests/1/register", {"emailId": "a@example.com", "fullName": "A"}).status == 200
    calls = _counting(stack)
    # When a key it has not seen registers
    auth.key_cache.clear()
    assert stack.api.post("/v2/tests/1/register", {"emailId": "c@example.com", "fullName": "C"}).status == 200
    # Then it costs the key lookup and the upsert, nothing more
    assert calls == ["GetItem", "TransactWriteItems"]
