"""How to add an optional extra (plot, export, sweep) to charrnn as it was
installed: from the package index, or from the source checkout that pip
installed it from, which pip records in the distribution's direct_url.json
(PEP 610): {"url": "file:///path", "dir_info": {"editable": true}} for
``pip install -e /path``.  Numba-free."""

import json
import shlex
from importlib import metadata
from urllib.parse import unquote, urlparse

DISTRIBUTION = "charrnn"


def install_command(extra):
    """The pip command line that installs ``extra`` into this charrnn:
    ``pip install -e '/path[plot]'`` for a checkout installed with -e,
    ``pip install '/path[plot]'`` for one installed without, else
    ``pip install 'charrnn[plot]'``."""
    source = installed_from()
    if source is None:
        return shlex.join(["pip", "install", f"{DISTRIBUTION}[{extra}]"])
    path, editable = source
    return shlex.join(["pip", "install", *(["-e"] if editable else []), f"{path}[{extra}]"])


def installed_from():
    """(directory, editable) of the local directory pip installed charrnn
    from, or None: installed from the index or an archive, or not by pip."""
    # the first charrnn on the path that pip installed (a .dist-info, with METADATA):
    # a checkout's own charrnn.egg-info (PKG-INFO), found first when the checkout is
    # the working directory, says nothing of how charrnn was installed
    installed = (d for d in metadata.distributions(name=DISTRIBUTION) if d.read_text("METADATA"))
    try:
        text = next(installed).read_text("direct_url.json")
        found = json.loads(text) if text else None
    except (StopIteration, ValueError, OSError):
        return None
    if not isinstance(found, dict) or not isinstance(found.get("dir_info"), dict):
        return None
    url = urlparse(str(found.get("url", "")))
    if url.scheme != "file" or url.netloc not in ("", "localhost"):
        return None
    return unquote(url.path), bool(found["dir_info"].get("editable"))
