"""The keras.json model (pydantic v2): what kbackend is willing to write.

`KerasConfig` validates a whole document before kbackend writes it, exactly as
strictly as Keras reads it: an epsilon Keras accepts but that is nonsense (NaN,
infinite, 0 or negative) passes here; `set` refuses it unless forced and
`check` warns (one rule: `judge.epsilon_nonsense`). Unknown keys are kept as extras.

>>> KerasConfig.for_rules(rules_for("3.15.1")).model_validate({"floatx": "float64"}).floatx
'float64'
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from kbackend.config.records import FileState, Problem, Value  # noqa: F401 (re-exported)
from kbackend.config.rules import DATA_FORMATS, FLOATX_FILE, Rules, rules_for  # noqa: F401



def _keras_style(field: str, allowed: str, received: Any) -> str:
    return f"Invalid `{field}`. Expected {allowed}. Received: {field}={received!r}"


class KerasConfig(BaseModel):
    """A keras.json document as kbackend is willing to write it."""

    model_config = ConfigDict(extra="allow", strict=True)

    floatx: Literal["float16", "float32", "float64"] | None = None
    epsilon: float | None = None
    backend: str | None = None
    image_data_format: Literal["channels_last", "channels_first"] | None = None
    nnx_enabled: bool | None = None

    @model_validator(mode="after")
    def _per_rules(self, info) -> "KerasConfig":
        rules: Rules | None = (info.context or {}).get("rules")
        if rules is None:
            return self
        if self.backend is not None and not rules.accepts_backend(self.backend):
            raise ValueError(
                f"Invalid `backend` for Keras {rules.keras_version or 'newest'}. Expected one of "
                f"{set(rules.backends)}. Received: backend={self.backend!r}"
            )
        if self.nnx_enabled is not None and not rules.nnx:
            raise ValueError("`nnx_enabled` is read by Keras 3.11 and later only")
        return self

    @classmethod
    def for_rules(cls, rules: Rules):
        """A validator bound to a Keras version's rules."""

        class _Bound:
            @staticmethod
            def model_validate(data: dict) -> "KerasConfig":
                return cls.model_validate(data, context={"rules": rules})

        return _Bound


def validation_messages(err: ValidationError) -> list[str]:
    """Keras-style one-line messages for a pydantic ValidationError."""
    out = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"]) or None
        msg = e["msg"].removeprefix("Value error, ")
        if loc and e["type"] in ("literal_error",):
            msg = _keras_style(loc, e["msg"].removeprefix("Input should be "), e.get("input"))
        elif loc and e["type"].endswith("_type"):
            msg = f"Invalid `{loc}`: {e['msg'].lower()}. Received: {loc}={e.get('input')!r}"
        out.append(msg)
    return out
