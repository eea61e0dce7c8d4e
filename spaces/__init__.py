"""Search spaces: each turns an encoding into typed DAGs the compiler can build.

``spaces.randwire`` builds RandWire networks (Xie et al. 2019) from graph generators.
"""

from . import randwire
from .errors import SpaceError

__all__ = ["SpaceError", "randwire"]
