"""kbackend's record bases, one neutral module every layer imports (no config, no pydantic at import).

- `@record`: frozen value classes (below).
- `Record`: mixin giving a record pydantic's `model_dump(mode="json")`, so renderers treat all results alike.
- `Model`: declare fields pydantic-style, get a frozen keyword-only record (`model_copy`, flat `model_validate`).
- `Checked`: the one pydantic base, built on first use, for results read back from files or children
  whose nested shape must be validated (bench baselines, verify and bench reports).
- `dump`: any of these as plain JSON-like data.

Record classes without `dataclasses`' code generation.

`@dataclass` compiles an `__init__`, `__repr__`, `__eq__`, `__hash__` and, when
frozen, `__setattr__`/`__delattr__` with `exec` for every class: about 0.5 ms a
class on this kind of machine, and `kbackend envs` defines twenty of them before
it does any work (a tenth of its whole run). `@record` builds the same behaviour
from shared generic methods instead: fields in declaration order (inherited ones
first), defaults and `field(default_factory=...)`, positional or keyword-only
arguments, frozen instances, value equality and hashing, the dataclass `repr`.

>>> @record
... class P:
...     name: str
...     tags: list = field(default_factory=list)
>>> p = P("a")
>>> p, p == P(name="a"), replace(p, tags=["x"])
(P(name='a', tags=[]), True, P(name='a', tags=['x']))
>>> p.name = "b"
Traceback (most recent call last):
...
kbackend._record.FrozenInstanceError: cannot assign to field 'name'
"""

from __future__ import annotations

from typing import Any, Callable

__all__ = ["record", "field", "fields", "replace", "is_record", "Field", "MISSING", "FrozenInstanceError",
           "Record", "Model", "Checked", "dump"]  # noqa: F822 - Checked is built on first use (__getattr__)


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


class FrozenInstanceError(AttributeError):
    """Assigning to (or deleting) a field of a frozen record."""


class Field:
    __slots__ = ("name", "type", "default", "default_factory", "repr", "kw_only")

    def __init__(self, default: Any = MISSING, default_factory: Any = MISSING, repr: bool = True) -> None:
        if default is not MISSING and default_factory is not MISSING:
            raise ValueError("cannot specify both default and default_factory")
        self.name = ""
        self.type: Any = None
        self.default = default
        self.default_factory = default_factory
        self.repr = repr
        self.kw_only = False

    @property
    def required(self) -> bool:
        return self.default is MISSING and self.default_factory is MISSING

    def __repr__(self) -> str:
        return f"Field(name={self.name!r}, default={self.default!r}, default_factory={self.default_factory!r})"


def field(*, default: Any = MISSING, default_factory: Callable[[], Any] | Any = MISSING, repr: bool = True) -> Any:
    """A field with a default, a default factory (for lists and dicts) or hidden from `repr`."""
    return Field(default, default_factory, repr)


def _is_classvar(annotation: Any) -> bool:
    text = annotation if isinstance(annotation, str) else repr(annotation)
    return text.startswith(("ClassVar", "typing.ClassVar"))


def _init(self, *args: Any, **kwargs: Any) -> None:
    cls = type(self)
    positional = cls.__record_positional__
    if len(args) > len(positional):
        raise TypeError(f"{cls.__name__}() takes {len(positional)} positional arguments but {len(args)} were given")
    values = dict(zip(positional, args))
    for name in kwargs:
        if name in values:
            raise TypeError(f"{cls.__name__}() got multiple values for argument {name!r}")
    values.update(kwargs)
    flds = cls.__record_fields__
    missing = []
    for name, f in flds.items():
        if name in values:
            continue
        if f.default is not MISSING:
            values[name] = f.default
        elif f.default_factory is not MISSING:
            values[name] = f.default_factory()
        else:
            missing.append(name)
    if missing:
        raise TypeError(f"{cls.__name__}() missing {len(missing)} required argument"
                        f"{'s' if len(missing) > 1 else ''}: {', '.join(map(repr, missing))}")
    if len(values) > len(flds):
        extra = next(n for n in values if n not in flds)
        raise TypeError(f"{cls.__name__}() got an unexpected keyword argument {extra!r}")
    d = self.__dict__
    for name in flds:
        d[name] = values[name]


def _repr(self) -> str:
    parts = ", ".join(f"{n}={getattr(self, n)!r}" for n, f in type(self).__record_fields__.items() if f.repr)
    return f"{type(self).__qualname__}({parts})"


def _astuple(self) -> tuple:
    return tuple(getattr(self, n) for n in type(self).__record_fields__)


def _eq(self, other: Any) -> Any:
    if other.__class__ is not self.__class__:
        return NotImplemented
    return _astuple(self) == _astuple(other)


def _hash(self) -> int:
    return hash(_astuple(self))


def _frozen_setattr(self, name: str, value: Any) -> None:
    raise FrozenInstanceError(f"cannot assign to field {name!r}")


def _frozen_delattr(self, name: str) -> None:
    raise FrozenInstanceError(f"cannot delete field {name!r}")


def record(cls: type | None = None, /, *, frozen: bool = True, kw_only: bool = False) -> Any:  # noqa: C901 - one class builder: each branch one dataclass option, kept in one place for start-up speed
    """Make `cls` a record; frozen unless `frozen=False`, keyword-only arguments with `kw_only=True`."""

    def wrap(cls: type) -> type:  # noqa: C901 - see record
        flds: dict[str, Field] = {}
        for base in reversed(cls.__mro__[1:]):
            flds.update(base.__dict__.get("__record_fields__", {}))
        for name, annotation in cls.__dict__.get("__annotations__", {}).items():
            if _is_classvar(annotation):
                continue
            value = cls.__dict__.get(name, MISSING)
            f = value if isinstance(value, Field) else Field(default=value)
            if isinstance(f.default, (list, dict, set)):
                raise ValueError(f"mutable default {type(f.default).__name__} for field {name!r}: "
                                 "use field(default_factory=...)")
            f.name, f.type, f.kw_only = name, annotation, kw_only
            flds[name] = f
            if f.default is MISSING:
                if name in cls.__dict__:
                    delattr(cls, name)
            else:
                setattr(cls, name, f.default)
        positional = tuple(n for n, f in flds.items() if not f.kw_only)
        seen_default = None
        for n in positional:
            if not flds[n].required:
                seen_default = n
            elif seen_default is not None:
                raise TypeError(f"non-default argument {n!r} follows default argument {seen_default!r}")
        cls.__record_fields__ = flds
        cls.__record_positional__ = positional
        cls.__match_args__ = positional
        own = cls.__dict__
        if "__init__" not in own:
            cls.__init__ = _init
        if "__repr__" not in own:
            cls.__repr__ = _repr
        if "__eq__" not in own:
            cls.__eq__ = _eq
        if frozen:
            cls.__setattr__ = _frozen_setattr
            cls.__delattr__ = _frozen_delattr
            if own.get("__hash__") is None:
                cls.__hash__ = _hash
        elif "__hash__" not in own or own["__hash__"] is None:
            cls.__hash__ = None  # mutable and compared by value: unhashable, as a dataclass
        return cls

    return wrap if cls is None else wrap(cls)


def is_record(obj: Any) -> bool:
    """True for a record instance (not the class)."""
    return not isinstance(obj, type) and hasattr(type(obj), "__record_fields__")


def fields(obj: Any) -> tuple[Field, ...]:
    """A record's (or record class's) fields in order."""
    cls = obj if isinstance(obj, type) else type(obj)
    try:
        return tuple(cls.__record_fields__.values())
    except AttributeError:
        raise TypeError(f"{cls.__name__} is not a record") from None


def replace(obj: Any, /, **changes: Any) -> Any:
    """A copy of a record with some fields changed (unknown names raise TypeError)."""
    values = {n: getattr(obj, n) for n in type(obj).__record_fields__}
    values.update(changes)
    return type(obj)(**values)


class Record:
    """Mixin: pydantic-like `model_dump` for frozen records."""

    def model_dump(self, mode: str = "python") -> dict[str, Any]:
        return dump(self)


class Model(Record):
    """Declare fields pydantic-style; get a frozen, keyword-only record.

    List, dict and set defaults become per-instance copies. `model_copy(update=...)`
    and `model_validate(dict)` behave like pydantic's for these flat records.

    >>> class P(Model):
    ...     name: str
    ...     tags: list[str] = []
    >>> P(name="a").model_copy(update={"tags": ["x"]})
    P(name='a', tags=['x'])
    """

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        for name in cls.__dict__.get("__annotations__", {}):
            default = cls.__dict__.get(name, MISSING)
            if isinstance(default, (list, dict, set)):
                setattr(cls, name, field(default_factory=lambda d=default: type(d)(d)))
        record(kw_only=True)(cls)

    def model_copy(self, *, update: dict[str, Any] | None = None):
        return replace(self, **(update or {}))

    @classmethod
    def model_validate(cls, data: Any):
        """Build from a dict (a cache entry, say), checking the simple field types.

        Raises ValueError when a required field is missing or a value has the
        wrong type, as pydantic's ValidationError (a ValueError) would.
        """
        if not isinstance(data, dict):
            raise ValueError(f"{cls.__name__}: expected an object, got {type(data).__name__}")
        kwargs = {}
        for f in fields(cls):
            if f.name not in data:
                if f.required:
                    raise ValueError(f"{cls.__name__}: missing field {f.name!r}")
                continue
            v = data[f.name]
            allowed = _simple_types(f.type)
            if allowed and not isinstance(v, allowed):
                raise ValueError(f"{cls.__name__}.{f.name}: expected {f.type}, got {type(v).__name__}")
            kwargs[f.name] = v
        return cls(**kwargs)


_SIMPLE = {"str": str, "int": int, "float": (int, float), "bool": bool, "None": type(None), "dict": dict,
           "list": list}


def _simple_types(annotation: Any) -> tuple[type, ...] | None:
    """isinstance types for annotations like `str | None`, `list[str]`, `dict[str, str]`; None if not simple."""
    if not isinstance(annotation, str):
        return None
    out: list[type] = []
    for part in annotation.split("|"):
        base = part.strip().split("[", 1)[0]
        t = _SIMPLE.get(base)
        if t is None:
            return None
        out.extend(t if isinstance(t, tuple) else (t,))
    return tuple(out)


def dump(obj: Any, leaf: Callable[[Any], Any] | None = None) -> Any:
    """Records, pydantic models, dicts and lists as plain JSON-like data; `leaf` maps every scalar."""
    if is_record(obj):
        return {f.name: dump(getattr(obj, f.name), leaf) for f in fields(obj)}
    if hasattr(obj, "model_dump"):
        return dump(obj.model_dump(mode="json"), leaf)
    if isinstance(obj, dict):
        return {k: dump(v, leaf) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [dump(v, leaf) for v in obj]
    return leaf(obj) if leaf else obj


_checked: type | None = None


def __getattr__(name: str) -> Any:
    """`Checked`, the frozen pydantic base, built (and pydantic imported) only when a module asks for it."""
    global _checked
    if name != "Checked":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if _checked is None:
        from pydantic import BaseModel, ConfigDict

        class Checked(BaseModel):
            """Base of the frozen pydantic result models: nested data validated when read back."""

            model_config = ConfigDict(frozen=True)

        Checked.__module__ = __name__
        _checked = Checked
    return _checked
