"""An example mmgc plug-in package (see the README's "Write your own method")."""
