/* writer.c - serialises a graph and its metadata to the .ptl layout (format.h). */
#include <stdlib.h>
#include <string.h>

#include "../runtime/format.h"

typedef struct {
  uint8_t *data;
  size_t size, cap;
  bool oom;
} wbuf;

static void reserve(wbuf *b, size_t extra) {
  if (b->oom || b->size + extra <= b->cap)
    return;
  size_t cap = b->cap ? b->cap : 4096;
  while (cap < b->size + extra)
    cap *= 2;
  uint8_t *p = realloc(b->data, cap);
  if (!p) {
    b->oom = true;
    return;
  }
  b->data = p;
  b->cap = cap;
}

static void put(wbuf *b, const void *p, size_t n) {
  reserve(b, n);
  if (b->oom)
    return;
  if (n)
    memcpy(b->data + b->size, p, n);
  b->size += n;
}

static void put_u8(wbuf *b, uint8_t v) {
  put(b, &v, 1);
}
static void put_u16(wbuf *b, uint16_t v) {
  put(b, (uint8_t[]){v & 0xff, v >> 8}, 2);
}

static void put_u32(wbuf *b, uint32_t v) {
  uint8_t x[4] = {v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, v >> 24};
  put(b, x, 4);
}

static void put_u64(wbuf *b, uint64_t v) {
  put_u32(b, (uint32_t)v);
  put_u32(b, (uint32_t)(v >> 32));
}

static void put_f64(wbuf *b, double d) {
  uint64_t v;
  memcpy(&v, &d, 8);
  put_u64(b, v);
}

static void put_str(wbuf *b, const char *s) {
  size_t n = s ? strlen(s) : 0;
  put_u32(b, (uint32_t)n);
  put(b, s, n);
}

static void pad_to(wbuf *b, size_t align) {
  static const uint8_t zeros[PTL_FILE_ALIGN];
  size_t rem = b->size % align;
  if (rem)
    put(b, zeros, align - rem);
}

/* Weights: every constant's elements in row-major order, 64-byte aligned. */
static ptl_status write_weights(const ptl_graph *g, wbuf *w, uint64_t *offsets) {
  for (int32_t i = 0; i < g->n_values; i++) {
    const ptl_value *v = &g->values[i];
    offsets[i] = 0;
    if (v->kind != PTL_VALUE_CONSTANT)
      continue;
    ptl_tensor *c;
    PTL_CHECK(ptl_tensor_contiguous(v->constant, &c));
    pad_to(w, PTL_FILE_ALIGN);
    offsets[i] = w->size;
    put(w, ptl_tensor_data(c), (size_t)ptl_tensor_numel(c) * ptl_dtype_size(c->dtype));
    ptl_tensor_release(c);
  }
  return PTL_OK;
}

/* The version a node needs: the op's first version that has every attribute the
 * node uses, so files that do not use a newer attribute still load in runtimes
 * that predate it (see the version notes in ops.def). */
static uint16_t node_version(const ptl_node *nd) {
  if (nd->op == PTL_OP_ADD) /* version 2 added i[0], the fused relu */
    return nd->attrs.n_ints > 0 && nd->attrs.ints[0] != 0 ? 2 : 1;
  if (nd->op == PTL_OP_QCONV2D) /* version 2 added i[9], the output clamp maximum */
    return nd->attrs.n_ints > 9 && nd->attrs.ints[9] != 255 ? 2 : 1;
  if (nd->op == PTL_OP_QLINEAR) /* version 2 added i[2], the output clamp maximum */
    return nd->attrs.n_ints > 2 && nd->attrs.ints[2] != 255 ? 2 : 1;
  return (uint16_t)ptl_op_version(nd->op);
}

/* Quantized constants carry their parameters (format 1.1); the writer refuses
 * what the reader would refuse, so every saved file loads. Returns whether the
 * graph needs the 1.1 quantization record at all. */
static ptl_status check_qparams(const ptl_graph *g, bool *any) {
  *any = false;
  for (int32_t i = 0; i < g->n_values; i++) {
    const ptl_value *v = &g->values[i];
    if (v->kind != PTL_VALUE_CONSTANT || !ptl_dtype_is_quantized(v->dtype))
      continue;
    const ptl_qparams *q = v->constant->qparams;
    if (!q)
      return ptl_error(PTL_ERR_VALUE,
                       "save: constant %d (%s) is %s but has no quantization parameters", i,
                       v->name ? v->name : "unnamed", ptl_dtype_name(v->dtype));
    PTL_CHECK(ptl_format_check_qparams(PTL_ERR_VALUE, "save: cannot store", i, v->name, v->dtype,
                                       v->ndim, v->shape, (uint32_t)q->scheme, q->axis, q->count,
                                       q->scale, q->zero_point));
    *any = true;
  }
  return PTL_OK;
}

static void put_qparams(wbuf *b, const ptl_qparams *q) {
  /* symmetric weights (every zero point 0) omit the zero points: half the record */
  bool zero_zps = true;
  for (int64_t k = 0; k < q->count; k++)
    zero_zps = zero_zps && q->zero_point[k] == 0;
  put_u8(b, PTL_QPARAMS_TAG);
  put_u8(b, (uint8_t)q->scheme);
  put_u16(b, zero_zps ? PTL_QPARAMS_ZERO_ZPS : 0);
  put_u32(b, (uint32_t)q->axis);
  put_u32(b, (uint32_t)q->count);
  for (int64_t k = 0; k < q->count; k++) {
    uint32_t bits;
    memcpy(&bits, &q->scale[k], 4);
    put_u32(b, bits);
  }
  if (!zero_zps)
    for (int64_t k = 0; k < q->count; k++)
      put_u32(b, (uint32_t)q->zero_point[k]);
}

static void write_graph(const ptl_graph *g, const uint64_t *offsets, wbuf *b) {
  put_u32(b, (uint32_t)g->n_values);
  put_u32(b, (uint32_t)g->n_nodes);
  put_u32(b, (uint32_t)g->n_inputs);
  put_u32(b, (uint32_t)g->n_outputs);
  for (int32_t i = 0; i < g->n_values; i++) {
    const ptl_value *v = &g->values[i];
    put_u8(b, (uint8_t)v->kind);
    put_u8(b, (uint8_t)v->dtype);
    put_u8(b, (uint8_t)v->ndim);
    /* checked by check_qparams: a quantized constant has its parameters */
    const ptl_qparams *q = v->kind == PTL_VALUE_CONSTANT && ptl_dtype_is_quantized(v->dtype)
                               ? v->constant->qparams
                               : NULL;
    put_u8(b, q ? PTL_VALUE_FLAG_QPARAMS : 0);
    for (int d = 0; d < v->ndim; d++)
      put_u64(b, (uint64_t)v->shape[d]);
    put_str(b, v->name);
    if (v->kind == PTL_VALUE_CONSTANT) {
      put_u64(b, offsets[i]);
      put_u64(b, (uint64_t)ptl_tensor_numel(v->constant) * ptl_dtype_size(v->dtype));
    }
    if (q)
      put_qparams(b, q);
  }
  for (int32_t n = 0; n < g->n_nodes; n++) {
    const ptl_node *nd = &g->nodes[n];
    put_u16(b, (uint16_t)nd->op);
    put_u16(b, node_version(nd));
    put_u8(b, (uint8_t)nd->n_in);
    put_u8(b, (uint8_t)nd->n_out);
    put_u8(b, (uint8_t)nd->attrs.n_ints);
    put_u8(b, (uint8_t)nd->attrs.n_floats);
    put_u32(b, nd->inplace);
    for (int i = 0; i < nd->n_in; i++)
      put_u32(b, (uint32_t)nd->in[i]);
    for (int i = 0; i < nd->n_out; i++)
      put_u32(b, (uint32_t)nd->out[i]);
    for (int i = 0; i < nd->attrs.n_ints; i++)
      put_u64(b, (uint64_t)nd->attrs.ints[i]);
    for (int i = 0; i < nd->attrs.n_floats; i++)
      put_f64(b, nd->attrs.floats[i]);
  }
  for (int32_t i = 0; i < g->n_inputs; i++)
    put_u32(b, (uint32_t)g->inputs[i]);
  for (int32_t i = 0; i < g->n_outputs; i++)
    put_u32(b, (uint32_t)g->outputs[i]);
}

static void write_meta(const ptl_meta *m, wbuf *b) {
  put_u32(b, m ? (uint32_t)m->count : 0);
  for (int32_t i = 0; m && i < m->count; i++) {
    put_str(b, m->entries[i].key);
    put_u64(b, m->entries[i].size);
    put(b, m->entries[i].value, m->entries[i].size);
  }
}

ptl_status ptl_format_write(const ptl_graph *g, const ptl_meta *meta, uint8_t **data_out,
                            size_t *size_out) {
  PTL_CHECK(ptl_graph_validate(g));
  bool quantized;
  PTL_CHECK(check_qparams(g, &quantized));
  uint64_t *offsets = calloc((size_t)(g->n_values ? g->n_values : 1), sizeof(uint64_t));
  wbuf sec[3] = {{0}, {0}, {0}}, out = {0};
  ptl_status s = offsets ? write_weights(g, &sec[2], offsets)
                         : ptl_error(PTL_ERR_OUT_OF_MEMORY, "save: out of memory");
  if (s == PTL_OK) {
    write_graph(g, offsets, &sec[0]);
    write_meta(meta, &sec[1]);
    const uint32_t kinds[3] = {PTL_SECTION_GRAPH, PTL_SECTION_METADATA, PTL_SECTION_WEIGHTS};
    /* header */
    put(&out, PTL_FILE_MAGIC, 8);
    /* The oldest version that describes the file: a float model stays 1.0,
     * byte for byte, so runtimes that predate 1.1 keep loading it. */
    put_u16(&out, PTL_FORMAT_MAJOR);
    put_u16(&out, quantized ? 1 : 0);
    put_u32(&out, quantized ? PTL_FILE_FLAG_QPARAMS : 0); /* features the file needs */
    put_u32(&out, 3);                                     /* section count */
    put_u32(&out, 0);                                     /* header crc, patched below */
    put_u64(&out, 0);                                     /* file size, patched below */
    pad_to(&out, PTL_HEADER_SIZE);
    size_t offset = PTL_HEADER_SIZE + 3 * PTL_SECTION_ENTRY_SIZE;
    offset = (offset + PTL_FILE_ALIGN - 1) / PTL_FILE_ALIGN * PTL_FILE_ALIGN;
    for (int k = 0; k < 3; k++) {
      put_u32(&out, kinds[k]);
      put_u32(&out, 0);
      put_u64(&out, offset);
      put_u64(&out, sec[k].size);
      put_u32(&out, ptl_crc32(0, sec[k].data, sec[k].size));
      put_u32(&out, 0);
      offset += (sec[k].size + PTL_FILE_ALIGN - 1) / PTL_FILE_ALIGN * PTL_FILE_ALIGN;
    }
    for (int k = 0; k < 3; k++) {
      pad_to(&out, PTL_FILE_ALIGN);
      put(&out, sec[k].data, sec[k].size);
    }
    if (out.oom || sec[0].oom || sec[1].oom || sec[2].oom) {
      s = ptl_error(PTL_ERR_OUT_OF_MEMORY, "save: out of memory serialising the model");
    } else {
      uint64_t size = out.size;
      for (int i = 0; i < 8; i++)
        out.data[24 + i] = (uint8_t)(size >> (8 * i));
      uint32_t crc = ptl_crc32(0, out.data, PTL_HEADER_SIZE + 3 * PTL_SECTION_ENTRY_SIZE);
      for (int i = 0; i < 4; i++)
        out.data[20 + i] = (uint8_t)(crc >> (8 * i));
    }
  }
  free(offsets);
  for (int k = 0; k < 3; k++)
    free(sec[k].data);
  if (s != PTL_OK) {
    free(out.data);
    return s;
  }
  *data_out = out.data;
  *size_out = out.size;
  return PTL_OK;
}
