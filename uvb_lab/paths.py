"""Where uvb-lab's own files are: conf/, beside the package (an editable install, as the README installs it).

A leaf module (it imports nothing of uvb_lab), so that compose.py and rebuild.py read CONFIG_DIR without importing the
package's __init__ and, through it, notebook.py (`uvb_lab.load_run`).
"""

from pathlib import Path

CONFIG_DIR = str(Path(__file__).resolve().parent.parent / "conf")
