/* Buffers of numpy arrays (or bytes) for the compiled modules of gis/query: C-contiguous,
 * checked for their item sizes.  Included, not linked: each module gets its own static copy.
 */
#ifndef GRIDMAP_BUFFERS_H
#define GRIDMAP_BUFFERS_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

/* A C-contiguous read-only buffer of `itemsize`-byte items, or -1 with an error set. */
static inline int take(PyObject *array, Py_buffer *view, Py_ssize_t itemsize,
                       const char *name) {
    if (PyObject_GetBuffer(array, view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) return -1;
    if (view->itemsize != itemsize) {
        PyErr_Format(PyExc_TypeError, "%s: %zd-byte items expected, got %zd", name, itemsize,
                     view->itemsize);
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

typedef struct {
    const char *name;
    Py_ssize_t itemsize;
    int writable;
} Want;

/* Buffers of the arrays, checked for item sizes; released by the caller on success. */
static inline int take_all(PyObject *const *args, Py_buffer *views, const Want *wants, int n) {
    for (int i = 0; i < n; i++) {
        int flags = PyBUF_C_CONTIGUOUS | (wants[i].writable ? PyBUF_WRITABLE : 0);
        if (PyObject_GetBuffer(args[i], &views[i], flags) < 0 ||
            views[i].itemsize != wants[i].itemsize) {
            if (!PyErr_Occurred())
                PyErr_Format(PyExc_TypeError, "%s: %zd-byte items expected", wants[i].name,
                             wants[i].itemsize);
            else
                i--; /* this one was not taken */
            for (int j = 0; j <= i; j++) PyBuffer_Release(&views[j]);
            return -1;
        }
    }
    return 0;
}

static inline void release_all(Py_buffer *views, int n) {
    for (int i = 0; i < n; i++) PyBuffer_Release(&views[i]);
}

#endif
