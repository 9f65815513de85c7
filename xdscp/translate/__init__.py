"""Pure translation: validated resources in, Envoy resources and policy status out.

Same input, same output, byte for byte. A `Translator` kept between views translates again
only what a change touches; `translate` is a translation afresh.
"""

from __future__ import annotations

from xdscp.translate.translation import Options, Selection, Translation
from xdscp.translate.translator import Translator, translate

__all__ = ["Options", "Selection", "Translation", "Translator", "translate"]
