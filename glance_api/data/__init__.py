"""Image bytes: the upload pipeline, data in the stores, location admission and verification."""
