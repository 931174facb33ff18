/* gis.query._cells — a single lookup's cell index, compiled.
 *
 * A lookup over HTTP costs the stack ~17 µs; the Python of a point's polygon test cost as much
 * again (issue 16).  The cell index's two loops live here; gis/query/cells.py (CellIndex)
 * answers what they leave to it, and gis/query/_near.c measures a point outside every grid:
 *
 * - Cells.covering(x, y): the cell index's answer for one point (CellIndex.covering_point),
 *   the mixed cells' candidates tested on their WKB (mapped, shared) by crossing number.  A
 *   point within EDGE_GUARD degrees of a candidate's edge is UNDECIDED (-2): the caller asks
 *   GEOS, which decides points on a boundary exactly (and a candidate too long to scan).
 *   Farther than that, a crossing test's rounding (~1e-13 degrees) cannot change the answer.
 * - Cells.box(x0, y0, x1, y1, most): the polygons a point of a box may be answered and how
 *   each lies to the box (GridIndex.box_area: the region of a block of points outside every
 *   grid), by the same scan: apart, covering, crossed by an edge, or UNDECIDED where an edge
 *   passes within BOX_GUARD of the box's sides (GEOS decides).
 *
 * Built with -ffp-contract=off: no fused multiply-add, so each operation rounds as Python's.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>

#include "_buffers.h"
#include "_wkb.h"

#define UNDECIDED (-2)
/* A candidate of more WKB than this (~16 000 vertices: a county's outline) is left to GEOS,
 * prepared (gis/query/cell_shapes.py LONG_BYTES): the scan costs ~3 ns a vertex (600 µs a
 * point beside a county of 200 000), prepared GEOS a few µs once the polygon is decoded and
 * prepared (~150 µs for a street of 5 500 vertices, which the scan reads in ~16 µs). */
#define SCAN_MOST_BYTES (256 * 1024)

/* ------------------------------------------------------------------ a box and a polygon */

#define BOX_APART 0   /* the polygon does not meet the box */
#define BOX_COVERED 1 /* the polygon covers the box */
#define BOX_ACROSS 2  /* an edge of the polygon crosses the box's inside: it meets the box
                       * and does not cover it */
#define BOX_GUARD (2 * EDGE_GUARD)

typedef struct {
    double x0, y0, x1, y1;
    int near, across;
} BoxQuery;

/* Whether the segment meets the box [x0, x1] × [y0, y1] (Liang–Barsky; its rounding moves
 * the answer by ~1e-13 degrees, far inside BOX_GUARD). */
static int segment_meets(double x1, double y1, double x2, double y2, double bx0, double by0,
                         double bx1, double by1) {
    double p[4] = {x1 - x2, x2 - x1, y1 - y2, y2 - y1};
    double q[4] = {x1 - bx0, bx1 - x1, y1 - by0, by1 - y1};
    double t0 = 0.0, t1 = 1.0;
    for (int i = 0; i < 4; i++) {
        if (p[i] == 0) {
            if (q[i] < 0) return 0;
            continue;
        }
        double t = q[i] / p[i];
        if (p[i] < 0) {
            if (t > t1) return 0;
            if (t > t0) t0 = t;
        } else {
            if (t < t0) return 0;
            if (t < t1) t1 = t;
        }
    }
    return 1;
}

/* One ring against the box: the crossings of the ray from its corner (x0, y0) towards +x
 * when no edge comes within BOX_GUARD of the box; else it marks the box `near` an edge or,
 * when an edge crosses the box shrunk by BOX_GUARD, `across` it (then -1: decided). */
static int ring_box(Reader *r, void *query, uint32_t j) {
    (void)j;
    BoxQuery *q = query;
    uint32_t n;
    const uint8_t *p = ring_vertices(r, &n);
    if (p == NULL) return -1;
    double x = q->x0, y = q->y0, x1, y1, x2, y2;
    int crossings = 0, inside = q->x1 - q->x0 > 2 * BOX_GUARD && q->y1 - q->y0 > 2 * BOX_GUARD;
    if (n == 0) return 0;
    vertex(p, 0, &x1, &y1);
    for (uint32_t i = 1; i < n; i++) {
        vertex(p, i, &x2, &y2);
        if (segment_meets(x1, y1, x2, y2, q->x0 - BOX_GUARD, q->y0 - BOX_GUARD,
                          q->x1 + BOX_GUARD, q->y1 + BOX_GUARD)) {
            if (inside && segment_meets(x1, y1, x2, y2, q->x0 + BOX_GUARD, q->y0 + BOX_GUARD,
                                        q->x1 - BOX_GUARD, q->y1 - BOX_GUARD)) {
                q->across = 1;
                return -1;
            }
            q->near = 1;
        } else if (crosses(x1, y1, x2, y2, x, y)) {
            crossings++;
        }
        x1 = x2;
        y1 = y2;
    }
    return crossings;
}

/* How a WKB polygon or multipolygon lies to the box: BOX_APART, BOX_COVERED, BOX_ACROSS, or
 * UNDECIDED (an edge within BOX_GUARD of the box's sides, a WKB this reader does not take).
 * With no edge that near, the box lies wholly inside or wholly outside, as its corner does:
 * the corner is no nearer than BOX_GUARD to an edge, so its crossings are exact. */
static int wkb_box(const uint8_t *wkb, Py_ssize_t size, BoxQuery *q) {
    q->near = q->across = 0;
    int crossings = wkb_rings(wkb, size, ring_box, q);
    if (q->across) return BOX_ACROSS;
    if (crossings < 0 || q->near) return UNDECIDED;
    return crossings & 1 ? BOX_COVERED : BOX_APART;
}

/* ------------------------------------------------------------------ the cell index */

typedef struct {
    PyObject_HEAD
    Py_buffer labels, starts, candidates, refined, sub_labels, blob, offsets;
    int held; /* how many of the buffers above are held */
    double x0, y0, size;
    Py_ssize_t nx, ny, split;
} Cells;

static void Cells_dealloc(Cells *self) {
    Py_buffer *views[] = {&self->labels,     &self->starts, &self->candidates, &self->refined,
                          &self->sub_labels, &self->blob,   &self->offsets};
    for (int i = 0; i < self->held; i++) PyBuffer_Release(views[i]);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int Cells_init(Cells *self, PyObject *args, PyObject *kwds) {
    PyObject *arrays[7];
    static const Py_ssize_t sizes[7] = {4, 8, 4, 4, 4, 1, 8};
    static const char *names[7] = {"labels",     "candidate_start", "candidates", "refined",
                                   "sub_labels", "blob",            "offsets"};
    if (self->held) {
        PyErr_SetString(PyExc_TypeError, "Cells is made once");
        return -1;
    }
    if (!PyArg_ParseTuple(args, "OOOOOOOdddnnn", &arrays[0], &arrays[1], &arrays[2], &arrays[3],
                          &arrays[4], &arrays[5], &arrays[6], &self->x0, &self->y0, &self->size,
                          &self->nx, &self->ny, &self->split))
        return -1;
    Py_buffer *views[] = {&self->labels,     &self->starts, &self->candidates, &self->refined,
                          &self->sub_labels, &self->blob,   &self->offsets};
    for (int i = 0; i < 7; i++) {
        if (take(arrays[i], views[i], sizes[i], names[i]) < 0) return -1;
        self->held++;
    }
    if (self->labels.len / 4 < self->nx * self->ny || self->split < 1) {
        PyErr_SetString(PyExc_ValueError, "the labels do not fill the frame");
        return -1;
    }
    return 0;
}

/* The candidates of slot `slot`: [*start, *end) in the candidates; 0 when the slot or its
 * range lies outside the arrays (a damaged index). */
static int slot_range(Cells *self, Py_ssize_t slot, int64_t *start, int64_t *end) {
    const int64_t *starts = self->starts.buf;
    if (slot < 0 || slot + 1 >= self->starts.len / 8) return 0;
    *start = starts[slot];
    *end = starts[slot + 1];
    return *start >= 0 && *end >= *start && *end <= self->candidates.len / 4;
}

/* Polygon c's WKB and its size when the scan reads it (its bytes within the blob, no more
 * than SCAN_MOST_BYTES); NULL otherwise (GEOS decides). */
static const uint8_t *scanned_wkb(Cells *self, int32_t c, Py_ssize_t *size) {
    const int64_t *offsets = self->offsets.buf;
    if (c < 0 || c >= self->offsets.len / 8 - 1) return NULL;
    int64_t a = offsets[c], b = offsets[c + 1];
    if (a < 0 || b > self->blob.len || b < a || b - a > SCAN_MOST_BYTES) return NULL;
    *size = (Py_ssize_t)(b - a);
    return (const uint8_t *)self->blob.buf + a;
}

/* The candidate polygons of slot `slot`: the lowest covering one, -1, or UNDECIDED. */
static long covering_candidates(Cells *self, Py_ssize_t slot, double x, double y) {
    const int32_t *candidates = self->candidates.buf;
    int64_t start, end;
    if (!slot_range(self, slot, &start, &end)) return UNDECIDED;
    long best = -1;
    for (int64_t i = start; i < end; i++) {
        int32_t c = candidates[i];
        Py_ssize_t size;
        const uint8_t *wkb = scanned_wkb(self, c, &size);
        if (wkb == NULL) return UNDECIDED;
        int found = wkb_covers(wkb, size, x, y);
        if (found < 0) return UNDECIDED;
        if (found && (best < 0 || c < best)) best = c;
    }
    return best;
}

static PyObject *Cells_covering(Cells *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "covering(x, y)");
        return NULL;
    }
    double x = PyFloat_AsDouble(args[0]), y = PyFloat_AsDouble(args[1]);
    if ((x == -1.0 || y == -1.0) && PyErr_Occurred()) return NULL;
    double fx = (x - self->x0) / self->size, fy = (y - self->y0) / self->size;
    if (!(0 <= fx && fx < (double)self->nx && 0 <= fy && fy < (double)self->ny))
        return PyLong_FromLong(-1);
    Py_ssize_t ix = (Py_ssize_t)fx, iy = (Py_ssize_t)fy;
    long label = ((const int32_t *)self->labels.buf)[iy * self->nx + ix];
    if (label >= -1) return PyLong_FromLong(label);
    Py_ssize_t slot = -2 - label;
    if (self->split > 1) {
        Py_ssize_t n_refined = self->refined.len / 4;
        int32_t refined = slot < n_refined ? ((const int32_t *)self->refined.buf)[slot] : -1;
        if (refined >= 0) {
            Py_ssize_t s = self->split;
            Py_ssize_t col = (Py_ssize_t)((fx - (double)ix) * (double)s);
            Py_ssize_t row = (Py_ssize_t)((fy - (double)iy) * (double)s);
            col = col < s - 1 ? col : s - 1;
            row = row < s - 1 ? row : s - 1;
            Py_ssize_t at = ((Py_ssize_t)refined * s + row) * s + col;
            if (at >= self->sub_labels.len / 4) return PyLong_FromLong(UNDECIDED);
            label = ((const int32_t *)self->sub_labels.buf)[at];
            if (label >= -1) return PyLong_FromLong(label);
            slot = -2 - label;
        }
    }
    return PyLong_FromLong(covering_candidates(self, slot, x, y));
}

static int compare_int32(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/* The polygons a point of the box may be answered (the labels of the cells it overlaps and
 * the lists of the mixed ones), each with how it lies to the box (wkb_box). */
static PyObject *Cells_box(Cells *self, PyObject *const *args, Py_ssize_t nargs) {
    double b[4];
    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError, "box(x0, y0, x1, y1, most)");
        return NULL;
    }
    for (int i = 0; i < 4; i++) {
        b[i] = PyFloat_AsDouble(args[i]);
        if (b[i] == -1.0 && PyErr_Occurred()) return NULL;
        if (isnan(b[i])) Py_RETURN_NONE;
    }
    Py_ssize_t most = PyLong_AsSsize_t(args[4]);
    if (most == -1 && PyErr_Occurred()) return NULL;
    double c0 = fmax(floor((b[0] - self->x0) / self->size), 0.0);
    double c1 = fmin(floor((b[2] - self->x0) / self->size), (double)(self->nx - 1));
    double r0 = fmax(floor((b[1] - self->y0) / self->size), 0.0);
    double r1 = fmin(floor((b[3] - self->y0) / self->size), (double)(self->ny - 1));
    if (c0 > c1 || r0 > r1) return Py_BuildValue("([][])");
    if ((c1 - c0 + 1) * (r1 - r0 + 1) > (double)most) Py_RETURN_NONE;
    const int32_t *labels = self->labels.buf, *candidates = self->candidates.buf;
    Py_ssize_t count = 0;
    for (int pass = 0; pass < 2; pass++) { /* count, then gather */
        int32_t *found = NULL;
        if (pass == 1 && (found = PyMem_Malloc(sizeof(int32_t) * (count + 1))) == NULL)
            return PyErr_NoMemory();
        Py_ssize_t k = 0;
        for (Py_ssize_t row = (Py_ssize_t)r0; row <= (Py_ssize_t)r1; row++) {
            for (Py_ssize_t col = (Py_ssize_t)c0; col <= (Py_ssize_t)c1; col++) {
                int32_t label = labels[row * self->nx + col];
                if (label >= 0) {
                    if (found) found[k] = label;
                    k++;
                } else if (label <= -2) {
                    int64_t start, end;
                    if (!slot_range(self, -2 - (Py_ssize_t)label, &start, &end)) {
                        PyMem_Free(found);
                        Py_RETURN_NONE;
                    }
                    for (int64_t i = start; i < end; i++) {
                        if (found) found[k] = candidates[i];
                        k++;
                    }
                }
            }
        }
        if (pass == 0) {
            count = k;
            continue;
        }
        qsort(found, (size_t)count, sizeof(int32_t), compare_int32);
        PyObject *polygons = PyList_New(0), *relations = PyList_New(0);
        BoxQuery q = {b[0], b[1], b[2], b[3], 0, 0};
        for (Py_ssize_t i = 0; polygons && relations && i < count; i++) {
            int32_t c = found[i];
            if (i > 0 && c == found[i - 1]) continue;
            if (c < 0) { /* not a polygon: a damaged index, every point tested */
                Py_CLEAR(polygons);
                break;
            }
            Py_ssize_t size;
            const uint8_t *wkb = scanned_wkb(self, c, &size);
            int relation = wkb == NULL ? UNDECIDED : wkb_box(wkb, size, &q);
            PyObject *polygon = PyLong_FromLong(c), *how = PyLong_FromLong(relation);
            if (!polygon || !how || PyList_Append(polygons, polygon) < 0 ||
                PyList_Append(relations, how) < 0) {
                Py_CLEAR(polygons);
            }
            Py_XDECREF(polygon);
            Py_XDECREF(how);
        }
        PyMem_Free(found);
        if (polygons == NULL || relations == NULL) {
            Py_XDECREF(polygons);
            Py_XDECREF(relations);
            if (PyErr_Occurred()) return NULL;
            Py_RETURN_NONE;
        }
        return Py_BuildValue("(NN)", polygons, relations);
    }
    Py_RETURN_NONE; /* not reached */
}

static PyMethodDef Cells_methods[] = {
    {"covering", (PyCFunction)(void (*)(void))Cells_covering, METH_FASTCALL,
     "covering(x, y): the lowest polygon covering the point, -1 for none, -2 when a GEOS "
     "test must decide (the point within ~0.1 mm of a candidate's edge)."},
    {"box", (PyCFunction)(void (*)(void))Cells_box, METH_FASTCALL,
     "box(x0, y0, x1, y1, most) -> ([polygon], [relation]) or None: the polygons a point of "
     "the box may be answered (sorted) and how each lies to the box (BOX_APART, BOX_COVERED, "
     "BOX_ACROSS, or UNDECIDED: a GEOS test must decide); None when the box overlaps more "
     "than `most` cells."},
    {NULL, NULL, 0, NULL}};

static PyTypeObject CellsType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "gis.query._cells.Cells",
    .tp_doc = PyDoc_STR("Cells(labels, candidate_start, candidates, refined, sub_labels, wkb, "
                        "wkb_offsets, x0, y0, size, nx, ny, split): a cell index's arrays, "
                        "held (not copied) for single points."),
    .tp_basicsize = sizeof(Cells),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Cells_init,
    .tp_dealloc = (destructor)Cells_dealloc,
    .tp_methods = Cells_methods,
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_cells",
                                    "A single lookup's cell index, compiled.", -1, NULL};

PyMODINIT_FUNC PyInit__cells(void) {
    if (PyType_Ready(&CellsType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) return NULL;
    Py_INCREF(&CellsType);
    if (PyModule_AddObject(m, "Cells", (PyObject *)&CellsType) < 0) {
        Py_DECREF(&CellsType);
        Py_DECREF(m);
        return NULL;
    }
    if (PyModule_AddIntConstant(m, "UNDECIDED", UNDECIDED) < 0 ||
        PyModule_AddIntConstant(m, "BOX_APART", BOX_APART) < 0 ||
        PyModule_AddIntConstant(m, "BOX_COVERED", BOX_COVERED) < 0 ||
        PyModule_AddIntConstant(m, "BOX_ACROSS", BOX_ACROSS) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
