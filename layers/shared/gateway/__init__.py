"""Assessment Gateway domain package (the shared Lambda layer).

Modules:
    config       one settings model, read once per cold start
    aws          lazily built, cached AWS clients (patched by tests, redirected by the local stack)
    errors       domain errors; `gateway.http.errors` maps them to HTTP in one place
    crypto       hashing, key derivation, constant-time comparison
    validation   field rules shared by the request contracts
    contracts    roles, the error envelope and the V2 request/response models (pydantic); each /v1 area has
                 its own *_contracts module, so a function builds only the models it uses
    repo/        DynamoDB data access; the only place that sees ClientError
    auth         API-key authentication and organisation-unit scoping
    orgs         organisation units and API keys
    registration V2 candidate registration and invitations
    bootstrap    idempotent seeding of a root unit and its first admin key
    lifecycle    what the layer keeps per process (execution environment), and resetting it
"""
