"""The API's request and response models, one module per area (issue 11, item 3).

Request models (:class:`~web.contract.RequestModel`) parse a JSON body or query string
and hand the service a frozen command value (``.command()``); response models
(:class:`~web.contract.ResponseModel`) read a domain value's attributes and decide its
JSON form. Both feed the OpenAPI description (``GET /api/v1/openapi.json``).
"""
