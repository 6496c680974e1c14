"""The multipart/form-data bodies of OpenAI's image edits and variations, read and checked.

The SDK sends one file as ``image`` and a list as ``image[]`` (its ``brackets`` format), the
other fields as text parts. FastAPI's own form parameters cannot refuse a field they do not
know, nor name ``image[]`` in an error, so the form is read here: every part must be a field
the operation has (OpenAI's ``Unrecognized request argument``), files where files go and text
elsewhere, each file within the request's image bytes; the text fields are then validated by
the operation's Pydantic model, whose errors the app answers like any body's (400 naming the
field). The same model and file list give the OpenAPI document its request body.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from starlette.datastructures import UploadFile

from aigc.errors import InvalidRequest, refused_value
from aigc.infra import untrusted

M = TypeVar("M", bound=BaseModel)
BINARY = {"type": "string", "format": "binary"}


@dataclass(frozen=True)
class FileField:
    """A file part of a form: its name, whether it may repeat, and what the document says."""

    name: str
    description: str
    many: int = 1  # how many parts of this name one request may carry


@dataclass(frozen=True)
class Upload:
    param: str  # how errors name it: "image", "image[1]", "mask"
    data: bytes


def form_body(fields: type[BaseModel], files: list[FileField], required: list[str]) -> dict:
    """``openapi_extra`` of a route that reads its form with ``read_form``: the request body as
    multipart/form-data, the text fields as the model describes them."""
    schema = fields.model_json_schema()
    properties: dict[str, Any] = {}
    for f in files:
        one = BINARY | {"description": f.description}
        properties[f.name] = (
            {"type": "array", "items": BINARY, "maxItems": f.many, "description": f.description}
            if f.many > 1
            else one
        )
    properties |= {name: without_null(prop) for name, prop in schema["properties"].items()}
    body = {
        "type": "object",
        "properties": properties,
        "required": required + [r for r in schema.get("required", []) if r not in required],
        "additionalProperties": False,
    }
    return {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": body}}}}


def without_null(prop: dict[str, Any]) -> dict[str, Any]:
    """A field's schema without its ``null`` alternative: a form part is text, with no null to
    send (a field left out takes its default)."""
    options = [o for o in prop.get("anyOf", []) if o != {"type": "null"}]
    if "anyOf" not in prop or not options:
        return prop
    rest = {k: v for k, v in prop.items() if k != "anyOf" and (k, v) != ("default", None)}
    return rest | options[0] if len(options) == 1 else rest | {"anyOf": options}


async def read_form(
    request: Request, fields: type[M], files: list[FileField], max_bytes: int
) -> tuple[M, dict[str, list[Upload]]]:
    """The text fields validated as ``fields`` and the files by field name (``image[]`` counts
    as ``image``), in the order sent; each file read only within ``max_bytes`` for all the
    files together (beyond: a 400 naming it, ``image_too_large``)."""
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        raise InvalidRequest(
            "Send this request as multipart/form-data (the image as a file part)",
            code="invalid_body",
        )
    form = await request.form()
    by_name = {f.name: f for f in files} | {f"{f.name}[]": f for f in files if f.many > 1}
    texts: dict[str, str] = {}
    sent: dict[str, list[bytes]] = {f.name: [] for f in files}
    left = max_bytes
    try:  # the files are read whole here, so their spooled copies go at once
        for key, value in form.multi_items():
            spec = by_name.get(key)
            if spec is not None:
                got = sent[spec.name]
                if not isinstance(value, UploadFile):
                    raise refused_value(
                        "form_file_needed",
                        "'{name}' must be a file part (a form field with a filename)",
                        param=spec.name,
                        name=spec.name,
                    )
                if len(got) >= spec.many:
                    raise refused_value(
                        "form_too_many_files",
                        "At most {max_length} file(s) in '{name}'; more were sent",
                        param=spec.name,
                        code="array_above_max_length",
                        name=spec.name,
                        max_length=spec.many,
                    )
                data = await value.read(left + 1)
                if len(data) > left:
                    raise InvalidRequest(
                        f"The files of this request are larger than {max_bytes} bytes together; "
                        f"'{spec.name}' file {len(got) + 1} goes past it",
                        param=spec.name,
                        code="image_too_large",
                    )
                left -= len(data)
                got.append(data)
            elif key not in fields.model_fields:
                raise InvalidRequest(
                    f"Unrecognized request argument supplied: {untrusted.field(key, 80)}",
                    param=untrusted.field(key, 80),
                    code="unknown_parameter",
                )
            elif not isinstance(value, str):
                raise refused_value(
                    "form_text_needed",
                    "'{name}' must be a text field, not a file",
                    param=key,
                    name=key,
                )
            elif key in texts:
                raise refused_value(
                    "form_field_twice", "'{name}' is given more than once", param=key, name=key
                )
            else:
                texts[key] = value
    finally:
        await form.close()
    # One file is named as its field; of several, each by its index: image[1].
    uploads = {
        name: [Upload(name if len(got) == 1 else f"{name}[{i}]", d) for i, d in enumerate(got)]
        for name, got in sent.items()
    }
    try:
        return fields.model_validate(texts), uploads
    except ValidationError as exc:
        errors = [dict(e) | {"loc": ("body", *e["loc"])} for e in exc.errors()]
        raise RequestValidationError(errors, body=texts) from None
