"""How the app is served: what an idle server does."""

from __future__ import annotations

from assistant.web.server import GRADIO_IDLE_POLL, GRADIO_PROGRESS_POLL
from tests.web.conftest import LiveServer


def test_the_idle_chat_ui_does_not_poll_a_thousand_times_a_second(live_server: LiveServer):
    """Gradio's queue, left alone, wakes every 1 and 10 ms on Linux: 6 % of a core for a
    server nobody uses (docs/benchmarks.md). The attributes are Gradio's own; an upgrade
    that renames them fails here instead of quietly bringing the polling back."""
    ui = live_server.app.state.ui.app
    assert ui is not None
    queue = ui.get_blocks()._queue
    assert queue.sleep_when_free == GRADIO_IDLE_POLL >= 0.05
    assert queue.progress_update_sleep_when_free == GRADIO_PROGRESS_POLL >= 0.1
    # Gradio still reads them in its loops (a renamed attribute would be ignored).
    import inspect

    source = inspect.getsource(type(queue))
    assert "await asyncio.sleep(self.sleep_when_free)" in source
    assert "await asyncio.sleep(self.progress_update_sleep_when_free)" in source
