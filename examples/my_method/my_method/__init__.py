"""An example mmgc plug-in package (see docs/write-a-method.md)."""
