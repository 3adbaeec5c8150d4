"""Helpers for sphinx-gallery, referenced by name from ``conf.py``."""


def reset_sklearn_config(gallery_conf, fname, when=None):
    """Undo global scikit-learn settings an example may change.

    Examples enable metadata routing with ``sklearn.set_config``; resetting
    before each example keeps one example's settings from leaking into the
    next one, which runs in the same process.
    """
    import sklearn

    sklearn.set_config(enable_metadata_routing=False, transform_output="default")
