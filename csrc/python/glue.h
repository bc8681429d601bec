/* glue.h - what both extension modules (enec._enec, enec._npu) need from Python: error mapping and shape parsing. */
#ifndef ENEC_PY_GLUE_H
#define ENEC_PY_GLUE_H
#include <Python.h>
#include "../enec.h"

/* The exception classes of enec._enec, which enec._npu raises too, so that
 * callers catch one class for bad streams. UnsupportedFormatError is a
 * CorruptDataError: handlers written before it existed still catch it. */
typedef struct {
    PyObject *corrupt;      /* enec.CorruptDataError */
    PyObject *unsupported;  /* enec.UnsupportedFormatError */
} enec_py_errors;

/* Raise the Python exception a caller expects for a codec error; `who`
 * prefixes the message ("enec", "enec.npu"). Returns NULL. */
static inline PyObject *enec_py_raise(size_t code, const enec_py_errors *e, const char *who)
{
    const char *name = enec_error_name(code);
    switch (enec_get_error(code)) {
    case ENEC_ERR_CORRUPT: PyErr_Format(e->corrupt, "%s: %s", who, name); break;
    case ENEC_ERR_UNSUPPORTED: PyErr_Format(e->unsupported, "%s: %s (this is enec %s)", who, name,
                                            enec_version_string()); break;
    case ENEC_ERR_NOMEM: PyErr_NoMemory(); break;
    case ENEC_ERR_THREADS: PyErr_Format(PyExc_RuntimeError, "%s: %s", who, name); break;
    case ENEC_ERR_BACKEND: PyErr_Format(PyExc_ValueError, "%s: %s (see enec.backends())", who, name); break;
    default: PyErr_Format(PyExc_ValueError, "%s: %s", who, name); break;
    }
    return NULL;
}

/* As enec_py_raise, for an error met reading the stream src: an
 * unsupported stream is named (its version, mode or dtype code) next to what
 * this build reads. */
static inline PyObject *enec_py_raise_stream(size_t code, const enec_py_errors *e, const char *who, const void *src,
                                             size_t len)
{
    enec_header h;
    if (enec_get_error(code) != ENEC_ERR_UNSUPPORTED ||
        enec_get_error(enec_read_header(src, len, &h)) != ENEC_ERR_UNSUPPORTED)
        return enec_py_raise(code, e, who);
    if (h.version > ENEC_FORMAT_VERSION)
        PyErr_Format(e->unsupported,
                     "%s: the stream is format version %u; enec %s reads versions %d to %d: upgrade enec to read it",
                     who, (unsigned)h.version, enec_version_string(), ENEC_FORMAT_VERSION_MIN, ENEC_FORMAT_VERSION);
    else if (h.mode >= ENEC_MODE_COUNT)
        PyErr_Format(e->unsupported,
                     "%s: the stream uses mode %u, which enec %s does not know (it reads modes 0 to %d): "
                     "upgrade enec to read it", who, (unsigned)h.mode, enec_version_string(), ENEC_MODE_COUNT - 1);
    else
        PyErr_Format(e->unsupported,
                     "%s: the stream holds dtype code %u, which enec %s does not know (it reads codes 0 to %d): "
                     "upgrade enec to read it", who, (unsigned)h.tensor.dtype, enec_version_string(),
                     ENEC_DTYPE_COUNT - 1);
    return NULL;
}

/* t->ndim and t->shape from a sequence of non-negative ints; -1 with an exception set. */
static inline int enec_py_shape(PyObject *shape, enec_tensor *t, const char *who)
{
    PyObject *seq = PySequence_Fast(shape, "shape must be a sequence");
    if (!seq) return -1;
    Py_ssize_t nd = PySequence_Fast_GET_SIZE(seq);
    if (nd > ENEC_MAX_NDIM) {
        Py_DECREF(seq);
        PyErr_Format(PyExc_ValueError, "%s: at most %d dimensions", who, ENEC_MAX_NDIM);
        return -1;
    }
    t->ndim = (uint32_t)nd;
    for (Py_ssize_t i = 0; i < nd; i++) {
        unsigned long long v = PyLong_AsUnsignedLongLong(PySequence_Fast_GET_ITEM(seq, i));
        if (v == (unsigned long long)-1 && PyErr_Occurred()) {
            Py_DECREF(seq);
            return -1;
        }
        t->shape[i] = v;
    }
    Py_DECREF(seq);
    return 0;
}

#endif
