"""What every screen over the frames shares: the ``frame`` reactive.

The app binds it when it creates the screen (``FrameScreen(...).data_bind(RaytopApp.frame)``);
the screen binds it on to its widgets (``Widget(...).data_bind(FrameScreen.frame)``) or redraws in
``watch_frame``. Assigning ``RaytopApp.frame`` is thus the one way a frame reaches the screen.
"""

from __future__ import annotations

from textual.reactive import var
from textual.screen import Screen

from raytop.tui.frame import EMPTY_FRAME, Frame


class FrameScreen(Screen):
    frame: var[Frame] = var(EMPTY_FRAME, init=False)
