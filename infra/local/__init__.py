"""The local development stack: moto (or LocalStack) provisioned from template.yaml, an ASGI
stand-in for API Gateway and polling stand-ins for the Lambda SQS event source mappings.

Run it with ``python -m infra.local``; use :class:`infra.local.stack.LocalStack` from tests.
Submodules are imported explicitly so that ``import infra.local`` stays cheap.
"""
