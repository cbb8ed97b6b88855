"""Start-up stays light: importing embedview and listing encoders never imports torch & co."""

import subprocess
import sys

from heavy_modules import HEAVY

SCRIPT = f"""
import sys
import embedview, embedview.core.dataset, embedview.encoders.registry
from embedview.encoders.registry import list_encoders, get_spec
specs = list_encoders()
status = [s.availability() for s in specs]
assert any(ok for ok, _ in status), status
get_spec("clip:ViT-B-32@/nonexistent/weights.pt").availability()
get_spec("sbert:sentence-transformers/all-mpnet-base-v2").availability()
loaded = [m for m in {HEAVY!r} if m in sys.modules]
print(",".join(loaded))
"""


def test_listing_encoders_imports_no_heavy_modules():
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", f"imported at start-up: {result.stdout.strip()}"
