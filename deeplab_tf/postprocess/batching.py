"""Runs of same-size images, so that the tools refine several images in one CRF call."""


def same_size_runs(items, batch_size, size_of):
    """Groups consecutive items of one size into lists of at most `batch_size`, in order.

    Only neighbours are grouped, so the items come out in the order they went in
    (an item of another size closes the current list); a stream of one size,
    such as a padded evaluation set, comes out in full lists.

    Args:
        items: any iterable; consumed lazily, at most `batch_size` items ahead.
        batch_size: the longest list, >= 1.
        size_of: item → a hashable size, e.g. an image's shape.

    Yields:
        Non-empty lists of items.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    run, size = [], None
    for item in items:
        item_size = size_of(item)
        if run and (item_size != size or len(run) == batch_size):
            yield run
            run = []
        run.append(item)
        size = item_size
    if run:
        yield run
