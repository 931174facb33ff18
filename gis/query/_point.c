/* gis.query._point — a single lookup's inner loops, compiled.
 *
 * A lookup over HTTP costs the stack ~17 µs; the Python of a point outside every grid cost as
 * much again (issue 16).  Five loops live here; the Python beside them (gis/query/cells.py,
 * gis/query/lookup_near.py) still answers what they leave to it:
 *
 * - Cells.covering(x, y): the cell index's answer for one point (CellIndex.covering_point),
 *   the mixed cells' candidates tested on their WKB (mapped, shared) by crossing number.  A
 *   point within EDGE_GUARD degrees of a candidate's edge is UNDECIDED (-2): the caller asks
 *   GEOS, which decides points on a boundary exactly (and a candidate too long to scan).  Farther than that, a crossing test's
 *   rounding (~1e-13 degrees) cannot change the answer.
 * - Cells.box(x0, y0, x1, y1, most): the polygons a point of a box may be answered and how
 *   each lies to the box (GridIndex.box_area: the region of a block of points outside every
 *   grid), by the same scan: apart, covering, crossed by an edge, or UNDECIDED where an edge
 *   passes within BOX_GUARD of the box's sides (GEOS decides).
 * - measure_edges(edges, x, y): the nearest grid and its geodesic metres over a block's few
 *   packed edges by GridIndex._local's rule, the same floating-point operations in the same
 *   order as the Python it replaced (bit-identical), a grid NOT_NEARER farther on the sphere
 *   than the nearest not measured, the rest by PROJ's geod_inverse — the very function
 *   pyproj's Geod.inv calls, found in the library pyproj loaded (set_geodesic).
 * - measure_near(edges, spans, x, y, extra, out, per_edge): the same measure per edge or per
 *   grid of many (NearLists making a block's list and edges, GridIndex's full search), each
 *   geod_inverse skipped where the angle on the sphere already puts it beyond the least +
 *   extra.
 * - walk(lists, x, y, ...): the entry of a point's block (NearLists._first, then _block down
 *   the entries already made); None sends the point to the Python that makes them.
 *
 * Built with -ffp-contract=off: no fused multiply-add, so each operation rounds as Python's.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "_buffers.h"
#include "_wkb.h"

#define UNDECIDED (-2)
/* A candidate of more WKB than this (~16 000 vertices: a county's outline) is left to GEOS,
 * prepared (gis/query/cell_shapes.py LONG_BYTES): the scan costs ~3 ns a vertex (600 µs a
 * point beside a county of 200 000), prepared GEOS a few µs once the polygon is decoded and
 * prepared (~150 µs for a street of 5 500 vertices, which the scan reads in ~16 µs). */
#define SCAN_MOST_BYTES (256 * 1024)

/* ------------------------------------------------------------------ point in WKB polygons */








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
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "gis.query._point.Cells",
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

/* ------------------------------------------------------------------ geodesic edges */

typedef void (*geod_init_fn)(void *g, double a, double f);
typedef void (*geod_inverse_fn)(const void *g, double lat1, double lon1, double lat2,
                                double lon2, double *s12, double *azi1, double *azi2);

/* struct geod_geodesic is 51 doubles in PROJ 6–9; room for more */
static double geodesic[128];
static geod_inverse_fn geod_inverse = NULL;

static PyObject *set_geodesic(PyObject *module, PyObject *args) {
    unsigned long long init_at, inverse_at;
    double a, f;
    if (!PyArg_ParseTuple(args, "KKdd", &init_at, &inverse_at, &a, &f)) return NULL;
    if (!init_at || !inverse_at) {
        PyErr_SetString(PyExc_ValueError, "no geod_init/geod_inverse");
        return NULL;
    }
    ((geod_init_fn)(uintptr_t)init_at)(geodesic, a, f);
    geod_inverse = (geod_inverse_fn)(uintptr_t)inverse_at;
    Py_RETURN_NONE;
}

#define DEGREE (3.14159265358979323846 / 180.0)   /* Python's math.pi / 180.0 */
#define RADIAN (180.0 / 3.14159265358979323846)   /* math.degrees' factor */

typedef struct {
    double grid, near, gx, gy;
} Best;

#define NOT_NEARER 1.02

/* A point's gnomonic frame (GridIndex's gnomonic projection centred on (x, y)) and the last
 * vertex projected: an edge starting where the one before ended reuses its projection. */
typedef struct {
    double x, y, s0, c0, end_lon, end_sin, bx, by;
} Frame;

static Frame frame_at(double x, double y) {
    double lat0 = y * DEGREE;
    return (Frame){x, y, sin(lat0), cos(lat0), NAN, NAN, 0.0, 0.0};
}

static void project(const Frame *f, double lon, double sin_lat, double cos_lat, double *px,
                    double *py) {
    double d = (lon - f->x) * DEGREE, cos_d = cos(d);
    double cos_c = f->s0 * sin_lat + f->c0 * cos_lat * cos_d;
    *px = cos_lat * sin(d) / cos_c;
    *py = (f->c0 * sin_lat - f->s0 * cos_lat * cos_d) / cos_c;
}

/* The point of a packed edge nearest the frame's centre on the sphere (gx, gy) and its
 * squared distance there (tan^2 of the angle). */
static double edge_nearest(Frame *f, const double *e, double *gx, double *gy) {
    double ax, ay;
    if (e[1] == f->end_lon && e[2] == f->end_sin) {
        ax = f->bx;
        ay = f->by;
    } else {
        project(f, e[1], e[2], e[3], &ax, &ay);
    }
    project(f, e[4], e[5], e[6], &f->bx, &f->by);
    f->end_lon = e[4];
    f->end_sin = e[5];
    double dx = f->bx - ax, dy = f->by - ay, length = dx * dx + dy * dy;
    double t = -(ax * dx + ay * dy) / (length > 0 ? length : 1.0);
    t = t < 0.0 ? 0.0 : t > 1.0 ? 1.0 : t;
    *gx = ax + t * dx;
    *gy = ay + t * dy;
    return *gx * *gx + *gy * *gy;
}

/* Geodesic metres from the frame's centre to the point (gx, gy) of its plane, by PROJ. */
static double metres_to(const Frame *f, double gx, double gy) {
    double rho = hypot(gx, gy), c = atan(rho), sin_c = sin(c), cos_c = cos(c);
    double lat = asin(cos_c * f->s0 + gy * sin_c * f->c0 / (rho > 0 ? rho : 1.0));
    double lon = f->x + (atan2(gx * sin_c, rho * f->c0 * cos_c - gy * f->s0 * sin_c) * RADIAN);
    double metres, azi1, azi2;
    geod_inverse(geodesic, f->y, f->x, lat * RADIAN, lon, &metres, &azi1, &azi2);
    return metres;
}

/* The packed edges of a buffer (7 doubles an edge), or -1 with an error set. */
static Py_ssize_t packed_edges(PyObject *edges, Py_buffer *view) {
    if (PyObject_GetBuffer(edges, view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) return -1;
    Py_ssize_t n = view->len / (Py_ssize_t)(7 * sizeof(double));
    if (view->itemsize != 8 || view->len != n * 7 * (Py_ssize_t)sizeof(double)) {
        PyBuffer_Release(view);
        PyErr_SetString(PyExc_ValueError, "edges: 7 doubles an edge");
        return -1;
    }
    return n;
}

static int point_args(PyObject *const *args, double *x, double *y) {
    if (geod_inverse == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "set_geodesic was not called");
        return -1;
    }
    *x = PyFloat_AsDouble(args[0]);
    *y = PyFloat_AsDouble(args[1]);
    return (*x == -1.0 || *y == -1.0) && PyErr_Occurred() ? -1 : 0;
}

static PyObject *measure_edges(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "measure_edges(edges, x, y)");
        return NULL;
    }
    double x, y;
    if (point_args(args + 1, &x, &y) < 0) return NULL;
    Py_buffer view;
    Py_ssize_t n = packed_edges(args[0], &view);
    if (n < 0) return NULL;
    const double *e = view.buf;
    Best stack[32], *best = n <= 32 ? stack : PyMem_Malloc(sizeof(Best) * (size_t)n);
    if (best == NULL) {
        PyBuffer_Release(&view);
        return PyErr_NoMemory();
    }
    Frame f = frame_at(x, y);
    Py_ssize_t grids = 0;
    for (Py_ssize_t i = 0; i < n; i++, e += 7) {
        double g = e[0], gx, gy, near = edge_nearest(&f, e, &gx, &gy);
        Py_ssize_t k = 0;
        while (k < grids && best[k].grid != g) k++;
        if (k == grids) {
            best[grids++] = (Best){g, near, gx, gy};
        } else if (near < best[k].near) {
            best[k] = (Best){g, near, gx, gy};
        }
    }
    PyBuffer_Release(&view);
    /* the grids in ascending order (a few: insertion sort), the least metres, the lowest
     * grid on a tie */
    for (Py_ssize_t i = 1; i < grids; i++) {
        Best item = best[i];
        Py_ssize_t j = i;
        while (j > 0 && best[j - 1].grid > item.grid) {
            best[j] = best[j - 1];
            j--;
        }
        best[j] = item;
    }
    /* A grid whose nearest point is more than NOT_NEARER farther on the sphere than the
     * nearest grid's cannot be nearer on the ellipsoid (two short distances from one point
     * scale by at most N/M = 1 + e'^2 cos^2(lat) < 1.0068 against the sphere's): not measured. */
    double least = INFINITY;
    for (Py_ssize_t i = 0; i < grids; i++) {
        double c = atan(hypot(best[i].gx, best[i].gy));
        best[i].near = c;
        least = c < least ? c : least;
    }
    double found_grid = -1.0, found_metres = INFINITY;
    for (Py_ssize_t i = 0; i < grids; i++) {
        if (best[i].near > least * NOT_NEARER) continue;
        double metres = metres_to(&f, best[i].gx, best[i].gy);
        if (metres < found_metres) {
            found_grid = best[i].grid;
            found_metres = metres;
        }
    }
    if (best != stack) PyMem_Free(best);
    return Py_BuildValue("(Ld)", (long long)found_grid, found_metres);
}

/* Metres on the ellipsoid per radian on the sphere of geodetic latitudes, at least: its
 * metric is M^2 dlat^2 + N^2 cos^2(lat) dlon^2, and M, N >= a (1 - e^2) = 6 335 439 m. */
#define LEAST_METRES_PER_RADIAN 6.33e6

static PyObject *measure_near(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 7) {
        PyErr_SetString(PyExc_TypeError, "measure_near(edges, spans, x, y, extra, out, per_edge)");
        return NULL;
    }
    double x, y, extra = PyFloat_AsDouble(args[4]);
    int per_edge = PyObject_IsTrue(args[6]);
    if (point_args(args + 2, &x, &y) < 0 || (extra == -1.0 && PyErr_Occurred()) || per_edge < 0)
        return NULL;
    Py_buffer view, spans, out;
    Py_ssize_t n = packed_edges(args[0], &view);
    if (n < 0) return NULL;
    if (take(args[1], &spans, 8, "spans") < 0) {
        PyBuffer_Release(&view);
        return NULL;
    }
    if (PyObject_GetBuffer(args[5], &out, PyBUF_C_CONTIGUOUS | PyBUF_WRITABLE | PyBUF_FORMAT)) {
        PyBuffer_Release(&view);
        PyBuffer_Release(&spans);
        return NULL;
    }
    const char *kind = spans.format ? spans.format + strlen(spans.format) - 1 : "B";
    const int64_t *span = spans.buf;
    Py_ssize_t count = spans.len / 16, items = 0, i0 = -1;
    const char *wrong = (*kind != 'q' && *kind != 'l') || spans.len % 16 ? "spans: int64 pairs"
                                                                          : NULL;
    for (Py_ssize_t g = 0; !wrong && g < count; g++) {
        if (span[2 * g] < 0 || span[2 * g] > span[2 * g + 1] || span[2 * g + 1] > n)
            wrong = "spans: [lo, hi) within the edges";
        items += per_edge ? span[2 * g + 1] - span[2 * g] : 1;
    }
    if (!wrong && (out.itemsize != 8 || out.format == NULL || strcmp(out.format, "d") ||
                   out.len != items * 8))
        wrong = "out: a float64 per item";
    double *metres = out.buf, *point = NULL;
    if (!wrong) point = PyMem_Malloc(sizeof(double) * 2 * (size_t)(items + 1));
    if (wrong || point == NULL) {
        if (wrong) PyErr_SetString(PyExc_ValueError, wrong);
        else PyErr_NoMemory();
        PyBuffer_Release(&view);
        PyBuffer_Release(&spans);
        PyBuffer_Release(&out);
        return NULL;
    }
    /* per item (an edge, or a span's edges) its point nearest on the sphere (the first
     * edge's on a tie) */
    Frame f = frame_at(x, y);
    const double *e = view.buf;
    for (Py_ssize_t g = 0, i = 0; g < count; g++) {
        if (!per_edge) metres[i] = INFINITY;
        for (Py_ssize_t k = span[2 * g]; k < span[2 * g + 1]; k++) {
            if (per_edge) metres[i] = INFINITY;
            double gx, gy, near = edge_nearest(&f, e + 7 * k, &gx, &gy);
            if (near < metres[i]) {
                metres[i] = near;
                point[2 * i] = gx;
                point[2 * i + 1] = gy;
            }
            if (per_edge && metres[i] < INFINITY && (i0 < 0 || metres[i] < metres[i0])) i0 = i;
            i += per_edge;
        }
        if (!per_edge && metres[i] < INFINITY && (i0 < 0 || metres[i] < metres[i0])) i0 = i;
        i += !per_edge;
    }
    PyBuffer_Release(&view);
    PyBuffer_Release(&spans);
    /* measured: the nearest on the sphere, then each item its angle does not put beyond it
     * + extra on the ellipsoid */
    double bound = i0 < 0 ? -1.0 : metres_to(&f, point[2 * i0], point[2 * i0 + 1]) + extra;
    for (Py_ssize_t i = 0; i < items; i++) {
        double angle = atan(sqrt(metres[i])); /* no edge: inf, beyond any bound */
        metres[i] = metres[i] < INFINITY && angle * LEAST_METRES_PER_RADIAN <= bound
                        ? metres_to(&f, point[2 * i], point[2 * i + 1])
                        : INFINITY;
    }
    PyMem_Free(point);
    PyBuffer_Release(&out);
    Py_RETURN_NONE;
}

/* ------------------------------------------------------------------ a block's entry */

static PyObject *walk(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    double v[11];
    if (nargs != 12 || !PyDict_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError,
                        "walk(lists, x, y, bx0, by0, bx1, by1, x0, y0, size, split, far_share)");
        return NULL;
    }
    for (int i = 0; i < 11; i++) {
        v[i] = PyFloat_AsDouble(args[i + 1]);
        if (v[i] == -1.0 && PyErr_Occurred()) return NULL;
    }
    double x = v[0], y = v[1], x0 = v[6], y0 = v[7], size = v[8], split = v[9], share = v[10];
    double away = 0.0, gaps[4] = {v[2] - x, x - v[4], v[3] - y, y - v[5]};
    for (int i = 0; i < 4; i++) away = gaps[i] > away ? gaps[i] : away;
    long k = 0;
    while (k < 60 && size * pow(split, (double)(k + 1)) * share <= away) k++;
    for (int depth = 0; depth < 64; depth++) {
        double side = size * pow(split, (double)k);
        double row = floor((y - y0) / side), col = floor((x - x0) / side);
        if (!(fabs(row) < 9e15) || !(fabs(col) < 9e15)) Py_RETURN_NONE; /* NaN, huge */
        PyObject *key = Py_BuildValue("(lLL)", k, (long long)row, (long long)col);
        if (key == NULL) return NULL;
        PyObject *entry = PyDict_GetItemWithError(args[0], key); /* borrowed */
        Py_DECREF(key);
        if (entry == NULL) {
            if (PyErr_Occurred()) return NULL;
            Py_RETURN_NONE;
        }
        if (!PyTuple_Check(entry) || PyTuple_GET_SIZE(entry) != 4) Py_RETURN_NONE;
        PyObject *below = PyTuple_GET_ITEM(entry, 1);
        if (below == Py_None) return Py_NewRef(entry);
        k = PyLong_AsLong(below);
        if (k == -1 && PyErr_Occurred()) return NULL;
    }
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"set_geodesic", set_geodesic, METH_VARARGS,
     "set_geodesic(geod_init, geod_inverse, a, f): the addresses of PROJ's functions and the "
     "ellipsoid measure_edges uses."},
    {"measure_edges", (PyCFunction)(void (*)(void))measure_edges, METH_FASTCALL,
     "measure_edges(edges, x, y) -> (grid, metres): see gis.query.lookup_near."},
    {"measure_near", (PyCFunction)(void (*)(void))measure_near, METH_FASTCALL,
     "measure_near(edges, spans, x, y, extra, out, per_edge): per edge of the spans or per "
     "span the geodesic metres to its point nearest on the sphere, where it may be within "
     "the least + extra, else inf: see gis.query.lookup_near."},
    {"walk", (PyCFunction)(void (*)(void))walk, METH_FASTCALL,
     "walk(lists, x, y, bx0, by0, bx1, by1, x0, y0, size, split, far_share) -> the entry of "
     "the point's block "
     "when every block down to it has one, else None: see gis.query.lookup_near."},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_point",
                                    "A single lookup's inner loops, compiled.", -1, methods};

PyMODINIT_FUNC PyInit__point(void) {
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
