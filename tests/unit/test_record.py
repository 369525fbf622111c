"""`kbackend._record` behaves as the `dataclasses` it replaces, side by side on the same classes."""

from __future__ import annotations

import copy
import dataclasses
import pickle
from typing import ClassVar

import pytest

from kbackend._record import FrozenInstanceError, field, fields, is_record, record, replace


def _pair(frozen=True, kw_only=False):
    """The same class body made by `record` and by `dataclass`."""

    def body():
        class C:
            KIND: ClassVar[str] = "c"
            a: int
            b: str = "x"
            c: list = field(default_factory=list)
            hidden: object = field(default=None, repr=False)

            def total(self):
                return self.a + len(self.c)

        return C

    R = record(frozen=frozen, kw_only=kw_only)(body())

    class D:
        KIND: ClassVar[str] = "c"
        a: int
        b: str = "x"
        c: list = dataclasses.field(default_factory=list)
        hidden: object = dataclasses.field(default=None, repr=False)

        def total(self):
            return self.a + len(self.c)

    D.__qualname__ = R.__qualname__ = "C"
    return R, dataclasses.dataclass(frozen=frozen, kw_only=kw_only)(D)


@pytest.mark.parametrize("frozen", [True, False])
def test_same_behaviour_as_dataclass(frozen):
    R, D = _pair(frozen=frozen)
    for cls in (R, D):
        x = cls(1, "y", [2], hidden=5)
        assert (x.a, x.b, x.c, x.hidden, x.total(), cls.KIND) == (1, "y", [2], 5, 2, "c")
    assert repr(R(1)) == repr(D(1)) == "C(a=1, b='x', c=[])"
    assert R(1) == R(1) and R(1) != R(2) and R(1) != D(1)
    assert R(1).c is not R(1).c  # a fresh list each time
    assert [f.name for f in fields(R)] == [f.name for f in dataclasses.fields(D)] == ["a", "b", "c", "hidden"]
    assert R.b == D.b == "x" and not hasattr(R, "c") and not hasattr(D, "c")
    if frozen:
        for cls in (R, D):  # hashed by value: a list field makes it unhashable, as a dataclass
            with pytest.raises(TypeError, match="unhashable type: 'list'"):
                hash(cls(1))
        for cls, err in ((R, FrozenInstanceError), (D, dataclasses.FrozenInstanceError)):
            obj = cls(1)
            with pytest.raises(err):
                obj.a = 2
            with pytest.raises(err):
                del obj.b
            assert isinstance(obj, object) and issubclass(err, AttributeError)
    else:
        with pytest.raises(TypeError):
            hash(R(1))
        with pytest.raises(TypeError):
            hash(D(1))
        r = R(1)
        r.a = 3
        assert r.a == 3


@pytest.mark.parametrize("call", [
    lambda cls: cls(),                      # missing required
    lambda cls: cls(1, "a", [], None, 9),   # too many positional
    lambda cls: cls(1, a=2),                # twice
    lambda cls: cls(1, nope=2),             # unknown keyword
])
def test_bad_arguments_raise_typeerror_like_dataclass(call):
    R, D = _pair()
    with pytest.raises(TypeError):
        call(D)
    with pytest.raises(TypeError):
        call(R)


def test_kw_only_and_replace():
    R, D = _pair(kw_only=True)
    with pytest.raises(TypeError):
        R(1)
    with pytest.raises(TypeError):
        D(1)
    r = R(a=1)
    assert replace(r, b="q") == R(a=1, b="q") and r.b == "x"
    with pytest.raises(TypeError):
        replace(r, nope=1)


def test_inheritance_pickle_copy_and_checks():
    @record
    class Base:
        a: int
        b: int = 2

    @record
    class Sub(Base):
        c: int = 3

    s = Sub(1, c=4)
    assert repr(s) == "test_inheritance_pickle_copy_and_checks.<locals>.Sub(a=1, b=2, c=4)"
    assert [f.name for f in fields(s)] == ["a", "b", "c"] and s.__match_args__ == ("a", "b", "c")
    assert copy.deepcopy(s) == s and copy.copy(s) == s
    assert hash(Sub(1)) == hash(Sub(1)) and len({Sub(1), Sub(1), Sub(2)}) == 2
    assert is_record(s) and not is_record(Sub) and not is_record({"a": 1})
    global Picklable
    Picklable = record(type("Picklable", (), {"__annotations__": {"x": "int"}, "__module__": __name__}))
    assert pickle.loads(pickle.dumps(Picklable(5))) == Picklable(5)
    with pytest.raises(TypeError, match="non-default argument 'z'"):
        record(type("Bad", (), {"__annotations__": {"y": "int", "z": "int"}, "y": 1}))
    with pytest.raises(ValueError, match="default_factory"):
        record(type("Bad", (), {"__annotations__": {"y": "list"}, "y": []}))
    with pytest.raises(TypeError):
        fields(object())


def test_explicit_methods_are_kept():
    @record
    class K:
        a: int

        def __repr__(self):
            return "mine"

    assert repr(K(1)) == "mine" and K(1) == K(1)
