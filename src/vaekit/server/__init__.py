"""The live latent-space explorer (``vaekit explore``): a local web page over a run's model.

:func:`explore` serves it and returns an :class:`~vaekit.server.serve.Explorer` (``.url``, ``.stop()``);
:class:`~vaekit.server.session.Session` answers the page's questions on arrays; :func:`create_app`
(in :mod:`vaekit.server.app`) is the Starlette app. The JSON API is documented in ``docs/explore.md``.

Starlette and uvicorn are imported when a server starts, not with ``import vaekit``.
"""

from __future__ import annotations

from vaekit.server.serve import Explorer, explore, is_loopback
from vaekit.server.session import Session

__all__ = ["Explorer", "Session", "explore", "is_loopback"]
