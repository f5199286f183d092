"""A generator run ahead of its consumer by a thread of its own, a bounded number of items ahead."""

import queue
import threading


def read_ahead(batches, depth):
    """`batches`, produced by a thread of their own up to `depth` ahead of the consumer.

    For a generator that waits for something outside Python, and never on Django's connection (which
    belongs to its thread): the export's read of a connection of its own (the reader waits for the
    server's next batch while this thread formats the current one; psycopg lets the other threads run
    while it waits), and a push's read of its stored file (read and parsed while this thread waits for
    the platform's answer). Close the result to stop the reader early; it closes `batches`, in its own
    thread, before it ends.
    """
    handoff = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def put(item):
        while not stop.is_set():
            try:
                handoff.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def read():
        try:
            for batch in batches:
                if not put(batch):
                    break
            else:
                put(done)
        except BaseException as exc:  # handed to the consumer, raised there
            put(exc)
        finally:
            batches.close()

    reader = threading.Thread(target=read, name="audience-reader", daemon=True)
    reader.start()
    try:
        while (item := handoff.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        reader.join()


__all__ = ["read_ahead"]
