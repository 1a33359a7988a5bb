"""`python -m zomg_blender` is the `zomg` command."""
from .cli import entry

entry()
