"""Data files shipped with cnn_utils (see README.md here for sources and licences)."""
