"""Record classes without `dataclasses`' code generation.

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

__all__ = ["record", "field", "fields", "replace", "is_record", "Field", "MISSING", "FrozenInstanceError"]


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


def record(cls: type | None = None, /, *, frozen: bool = True, kw_only: bool = False) -> Any:
    """Make `cls` a record; frozen unless `frozen=False`, keyword-only arguments with `kw_only=True`."""

    def wrap(cls: type) -> type:
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
