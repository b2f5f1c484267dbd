"""The OpenAPI 3.1 document of the CAD endpoint and the calls API (`/api/v1/openapi.json`).

The CAD event's schema is the one the endpoint validates with (`bot/cad_schema.json`), so
the document cannot drift from what is enforced.
"""

from __future__ import annotations

from typing import Any

from bot import cad, calls
from bot.notifications import CASE_STATUSES

MESSAGE_KINDS = [
    "acknowledgement", "assigned", "enroute", "arrived", "delay", "closed", "case_update",
    "survey", "reply", "compliance",
]  # fmt: skip
FLAG_KINDS = ["add_info", "cancel_request", "emergency", "request_callback", "complaint"]


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def _nullable(kind: str) -> dict[str, Any]:
    return {"type": [kind, "null"]}


def document() -> dict[str, Any]:
    event_schema = {k: v for k, v in cad.schema().items() if k not in ("$schema", "$id")}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "TenFour",
            "version": "1",
            "description": "CAD events in, call status out. Errors are "
            '{"error": {"code", "message"}}, with "fields" on 422.',
        },
        "paths": {
            "/webhooks/cad/events": {
                "post": {
                    "operationId": "postCadEvent",
                    "summary": "One CAD event about a call for service",
                    "description": (
                        "Signed with `X-TenFour-Signature: t=<unix seconds>,v1=<hex>`, "
                        'v1 = HMAC-SHA256(CAD_WEBHOOK_SECRET, "<t>." + raw body); t must be '
                        f"within {cad.SIGNATURE_TOLERANCE_SECONDS} s of the server's clock. "
                        "Idempotent on event_id. Late or out-of-order events never move a "
                        "call backwards."
                    ),
                    "security": [{"cadSignature": []}],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/CadEvent"}
                            }
                        },
                    },
                    "responses": {
                        "202": {
                            "description": "Accepted and applied",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/CadAnswer"}
                                }
                            },
                        },
                        "200": {
                            "description": "This event_id was received before: no effect",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/CadAnswer"}
                                }
                            },
                        },
                        "400": _error("The body is not JSON"),
                        "401": _error("Missing, wrong or stale signature"),
                        "413": _error(f"Body larger than {cad.MAX_BODY_BYTES} bytes"),
                        "415": _error("Not application/json"),
                        "422": _error("Invalid fields (listed in error.fields)"),
                        "503": _error("CAD_WEBHOOK_SECRET is not configured"),
                    },
                }
            },
            "/api/v1/calls/{call_id}": {
                "get": {
                    "operationId": "getCall",
                    "summary": "A call, its messages, ratings and flags",
                    "security": [{"bearer": []}],
                    "parameters": [
                        {
                            "name": "call_id",
                            "in": "path",
                            "required": True,
                            "description": "The CAD's call id, e.g. MPD-26-004512",
                            "schema": {"type": "string"},
                        }
                    ],
                    "responses": {
                        "200": {
                            "description": "The call",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/CallRecord"}
                                }
                            },
                        },
                        "401": _error("No bearer token"),
                        "403": _error("Wrong bearer token"),
                        "404": _error("No such call"),
                    },
                }
            },
        },
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "cadSignature": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "X-TenFour-Signature",
                },
            },
            "schemas": {
                "CadEvent": event_schema,
                "CadAnswer": {
                    "type": "object",
                    "required": ["status", "event_id"],
                    "properties": {
                        "status": {"enum": ["accepted", "duplicate"]},
                        "event_id": {"type": "string"},
                    },
                },
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {
                        "error": {
                            "type": "object",
                            "required": ["code", "message"],
                            "properties": {
                                "code": {"type": "string"},
                                "message": {"type": "string"},
                                "fields": {
                                    "type": "array",
                                    "items": {
                                        "type": "object",
                                        "required": ["field", "message"],
                                        "properties": {
                                            "field": {"type": "string"},
                                            "message": {"type": "string"},
                                        },
                                    },
                                },
                            },
                        }
                    },
                },
                "CallRecord": _call_record_schema(),
            },
        },
    }


def _call_record_schema() -> dict[str, Any]:
    message = {
        "type": "object",
        "required": ["direction", "channel", "body", "language", "created_at"],
        "properties": {
            "direction": {"enum": ["outbound", "inbound"]},
            "channel": {"enum": ["sms", "email"]},
            "kind": {"enum": MESSAGE_KINDS, "description": "outbound only"},
            "language": _nullable("string"),
            "body": {"type": "string"},
            "status": {"type": "string", "description": "outbound only"},
            "intent": {**_nullable("string"), "description": "inbound only"},
            "created_at": {"type": "string", "format": "date-time"},
        },
    }
    return {
        "type": "object",
        "required": ["call", "messages", "ratings", "flags"],
        "properties": {
            "call": {
                "type": "object",
                "required": ["id", "type_code", "priority", "state", "language", "suppressed"],
                "properties": {
                    "id": {"type": "string"},
                    "type_code": _nullable("string"),
                    "priority": _nullable("integer"),
                    "state": {"enum": list(calls.STATES)},
                    "language": {"enum": ["en", "es"]},
                    "suppressed": {"type": "boolean"},
                    "case_number": _nullable("string"),
                    "case_status": {"enum": [*CASE_STATUSES, None]},
                },
            },
            "messages": {"type": "array", "items": message},
            "ratings": {
                "type": "object",
                "properties": {
                    "call_taker": {"type": ["integer", "null"], "minimum": 1, "maximum": 5},
                    "officer": {"type": ["integer", "null"], "minimum": 1, "maximum": 5},
                    "comment": _nullable("string"),
                },
            },
            "flags": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["kind", "text", "created_at"],
                    "properties": {
                        "kind": {"enum": FLAG_KINDS},
                        "text": {"type": "string"},
                        "created_at": {"type": "string", "format": "date-time"},
                    },
                },
            },
        },
    }
