"""The bodies of the explorer's JSON endpoints, validated before any of it reaches the model.

Every body is a JSON object with exactly the fields below (an unknown field is refused, so a typo is an error
rather than a default); numbers must be finite. Shapes and sizes that depend on the run (a code's length, a
label's range) are checked by :class:`~vaekit.server.session.Session`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from vaekit.server.session import MAX_ROWS, RequestError

Number = Annotated[float, Field(strict=False, allow_inf_nan=False)]
Label = Annotated[int, Field(strict=True)]
Rows = Annotated[list[Any], Field(min_length=1, max_length=MAX_ROWS)]
Code = Annotated[list[Number], Field(min_length=1)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class DecodeBody(_Body):
    """``z``: codes ``(n, latent_dim)``; ``y``: a conditional model's label(s), one for all or one per code."""

    z: Annotated[list[Code], Field(min_length=1, max_length=MAX_ROWS)]
    y: Label | list[Label] | None = None


class EncodeBody(_Body):
    """Either ``index``: an example of the map, or ``x``: examples as the page shows them (with ``y`` for a
    conditional model)."""

    index: Label | None = None
    x: Rows | None = None
    y: Label | list[Label] | None = None


class SampleBody(_Body):
    """``n`` draws from the prior at ``temperature``; ``seed`` for repeatable draws; ``y`` for a conditional model."""

    n: Label = 1
    temperature: Number = 1.0
    seed: Label | None = None
    y: Label | list[Label] | None = None


class InterpolateBody(_Body):
    """The path from ``z0`` to ``z1``: at ``t`` (values in [0, 1]) or at ``steps`` evenly spaced points."""

    z0: Code
    z1: Code
    t: Annotated[list[Number], Field(min_length=1, max_length=MAX_ROWS)] | None = None
    steps: Label | None = None
    method: Literal["lerp", "slerp"] = "lerp"
    y: Label | None = None


def parse(model: type[_Body], body: Any) -> Any:
    """``body`` validated as ``model``; a :class:`RequestError` naming the first problem otherwise."""
    if not isinstance(body, dict):
        raise RequestError("the body must be a JSON object", f"e.g. {_EXAMPLES[model]}")
    try:
        return model.model_validate(body)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise RequestError(f"{where}: {first['msg']}", f"e.g. {_EXAMPLES[model]}") from None


_EXAMPLES = {
    DecodeBody: '{"z": [[0.1, -1.2, ...]]}',
    EncodeBody: '{"index": 3} or {"x": [example]}',
    SampleBody: '{"n": 1, "temperature": 0.8}',
    InterpolateBody: '{"z0": [...], "z1": [...], "t": [0.5], "method": "slerp"}',
}
