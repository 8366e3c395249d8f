"""Tasks (image imports): their records, leases and the import lock on an image
(``writes``), and their HTTP handlers (``handlers``)."""
