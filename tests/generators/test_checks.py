"""generators.checks: the shared argument checks return what they accept and raise the caller's error naming the value."""

import math

import pytest

from generators import WiringError
from generators.checks import boolean, int_at_least, positive_int, positive_real, real_in


class OwnError(WiringError):
    pass


def test_accepted_values_come_back_unchanged():
    assert positive_int("n", 3) == 3
    assert positive_int("n", None, allow_none=True) is None
    assert int_at_least("d", 0, 0) == 0
    assert real_in("lr", 0.1, 0, include_low=False) == 0.1
    assert real_in("m", 0, 0, 1, include_high=False) == 0
    assert real_in("x", -5) == -5
    assert positive_real("w", 2) == 2
    assert boolean("b", False) is False


@pytest.mark.parametrize(("check", "args", "kwargs", "message"), [
    (positive_int, ("epochs", 0), {}, "epochs must be a positive int, got epochs=0"),
    (positive_int, ("epochs", True), {}, "epochs must be a positive int, got epochs=True"),
    (positive_int, ("epochs", 2.0), {}, "epochs must be a positive int, got epochs=2.0"),
    (positive_int, ("batch", None), {}, "batch must be a positive int, got batch=None"),
    (positive_int, ("batch", -1), {"allow_none": True}, "batch must be a positive int or None, got batch=-1"),
    (int_at_least, ("depth", -1, 0), {}, "depth must be an int >= 0, got depth=-1"),
    (int_at_least, ("steps", False, 0), {}, "steps must be an int >= 0, got steps=False"),
    (real_in, ("lr", 0, 0), {"include_low": False}, "lr must be a finite number with lr > 0, got lr=0"),
    (real_in, ("momentum", 1.0, 0, 1), {"include_high": False},
     "momentum must be a finite number with 0 <= momentum < 1, got momentum=1.0"),
    (real_in, ("decay", -1, 0), {}, "decay must be a finite number with decay >= 0, got decay=-1"),
    (real_in, ("p", 2, None, 1), {}, "p must be a finite number with p <= 1, got p=2"),
    (real_in, ("x", math.nan), {}, "x must be a finite number, got x=nan"),
    (real_in, ("x", True), {}, "x must be a finite number, got x=True"),
    (real_in, ("x", 10**400), {}, "x must be a finite number, got x=1000"),
    (positive_real, ("w", 0), {}, "w must be a positive number, got w=0"),
    (positive_real, ("w", math.inf), {"allow_none": True}, "w must be a positive number or None, got w=inf"),
    (boolean, ("aux", 1), {}, "aux must be a bool, got aux=1"),
])
def test_refused_values_raise_the_callers_error_naming_them(check, args, kwargs, message):
    with pytest.raises(OwnError) as caught:
        check(*args, **kwargs, error=OwnError)
    assert str(caught.value).startswith(message)


def test_the_default_error_is_the_root():
    with pytest.raises(WiringError):
        positive_int("n", 0)
    with pytest.raises(WiringError):
        boolean("flag", "yes")
