"""Operating the deployed service: the first admin key, created without the local stack."""

from tests.helpers import LambdaContext


def test_a_one_off_invoke_of_the_admin_function_creates_the_first_admin_key(stack):
    # Given a deployed stack: no API key exists that an operator knows
    admin = stack.api.handler("AdminFunction")
    # When the operator invokes the admin function directly with a bootstrap request
    reply = admin({"bootstrap": {"name": "Root"}}, LambdaContext())
    # Then it answers the root unit and a new admin key, which works on the API at once
    assert reply["org_unit"] == stack.root
    assert reply["api_key"].startswith(reply["key_id"] + ".")
    listed = stack.api.as_key(reply["api_key"]).get("/v1/org-units")
    assert listed.status == 200, listed.body
    # And a second invoke adds another key to the same root, never a second root
    again = admin({"bootstrap": {"name": "Root"}}, LambdaContext())
    assert again["org_unit"] == stack.root and again["api_key"] != reply["api_key"]


def test_an_api_event_never_reaches_the_bootstrap(stack):
    # Given a request through API Gateway whose body asks for a bootstrap, without a key
    reply = stack.api.post("/v1/org-units", {"bootstrap": {"name": "Evil"}}, key=None)
    # Then it is refused like any unauthenticated call
    assert reply.status == 401
