"""minimaskrcnn: Mask R-CNN from scratch in NumPy, with Numba-JIT hot loops.

Sub-packages, in the order data flows through the model:

* ``minimaskrcnn.nn``        the hand-written layer kit, losses, optimizer, gradient checks
* ``minimaskrcnn.ops``       convolution, bilinear interpolation, RoIPool, RoIAlign, NMS
* ``minimaskrcnn.boxes``     the one box convention: (x1, y1, x2, y2), IoU, box coding
* ``minimaskrcnn.datasets``  toy shapes and COCO-format I/O
* ``minimaskrcnn.model``     backbone, RPN, RoI heads, mask head, Mask R-CNN
* ``minimaskrcnn.evaluation`` COCO-style AP for boxes and masks
* ``minimaskrcnn.visualize`` matplotlib pictures of every stage
"""
__version__ = "0.1.0"

import os as _os


def _limit_blas_threads() -> None:
    """Run BLAS (numpy's matrix multiplies) on one thread unless told otherwise.

    The model interleaves many small matrix multiplies with Numba kernels. A
    multi-threaded OpenBLAS keeps its idle threads spinning after each call,
    and they fight the Numba threads and any other busy process for the
    cores: measured on a 2-core machine with a second process running, one
    training step took 10.3 s with 2 BLAS threads and 0.31 s with one. Set
    MINIMASKRCNN_BLAS_THREADS=N to choose another count (0 leaves BLAS alone).
    """
    text = _os.environ.get("MINIMASKRCNN_BLAS_THREADS", "1")
    try:
        n = int(text)
    except ValueError:
        import warnings

        warnings.warn(f"MINIMASKRCNN_BLAS_THREADS={text!r} is not an integer; using 1 BLAS thread")
        n = 1
    if n <= 0:
        return
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl is in requirements.txt
        return
    threadpool_limits(n, user_api="blas")


_limit_blas_threads()
