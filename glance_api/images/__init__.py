"""The image record as the API sees it: lookup, the image document, JSON patch, schemas."""
