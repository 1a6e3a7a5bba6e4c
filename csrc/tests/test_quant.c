/* test_quant.c - C tests of kernels/quant.c through ptl_op_run. Expected values
 * were computed with torch 2.13 (qnnpack engine). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "internal.h" /* ptl_qparams */
#include "test_util.h"

static ptl_attrs qpt_attrs(double scale, int64_t zp, ptl_dtype d) {
  ptl_attrs a = {0};
  a.n_ints = 2;
  a.ints[0] = zp;
  a.ints[1] = d;
  a.n_floats = 1;
  a.floats[0] = scale;
  return a;
}

static ptl_attrs qpc_attrs(int64_t axis, ptl_dtype d) {
  ptl_attrs a = {0};
  a.n_ints = 2;
  a.ints[0] = axis;
  a.ints[1] = d;
  return a;
}

/* Ties round half to even, saturation, NaN/inf, -0 (torch: quantize_per_tensor(x, 0.5, zp)). */
static void test_per_tensor_values(void) {
  const float x[] = {0.25f, 0.75f, 1.25f, -0.25f, -0.75f, -0.0f, 1e10f, -1e10f, NAN, INFINITY};
  int64_t shape[1] = {10};
  ptl_tensor *in = t_f32(1, shape, x);
  /* torch: quint8 zp 10 -> [10,12,12,10,8,10,255,0,255,255]; qint8 zp 0 ->
   * [0,2,2,0,-2,0,127,-128,127,127]; qint32 zp 0 -> NaN gives INT32_MIN */
  static const int64_t want_u8[10] = {10, 12, 12, 10, 8, 10, 255, 0, 255, 255};
  static const int64_t want_i8[10] = {0, 2, 2, 0, -2, 0, 127, -128, 127, 127};
  static const int64_t want_i32[10] = {
      0, 2, 2, 0, -2, 0, 2147483647, -2147483648LL, -2147483648LL, 2147483647};
  struct {
    ptl_dtype d;
    int64_t zp;
    const int64_t *want;
  } cases[] = {{PTL_QUINT8, 10, want_u8}, {PTL_QINT8, 0, want_i8}, {PTL_QINT32, 0, want_i32}};
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    ptl_attrs a = qpt_attrs(0.5, cases[c].zp, cases[c].d);
    ptl_tensor *q = NULL, *r = NULL, *f = NULL;
    T_OK(ptl_op_run(PTL_OP_QUANTIZE_PER_TENSOR, &a, &in, 1, &q, 1));
    if (!q)
      continue;
    T_CHECK(ptl_tensor_dtype(q) == cases[c].d);
    T_CHECK(q->qparams && q->qparams->scheme == PTL_QSCHEME_PER_TENSOR_AFFINE &&
            q->qparams->count == 1 && q->qparams->scale[0] == 0.5f &&
            q->qparams->zero_point[0] == cases[c].zp);
    T_OK(ptl_op_run(PTL_OP_INT_REPR, NULL, &q, 1, &r, 1));
    T_OK(ptl_op_run(PTL_OP_DEQUANTIZE, NULL, &q, 1, &f, 1));
    if (r && f) {
      T_CHECK(r->qparams == NULL);
      T_CHECK(ptl_tensor_dtype(f) == PTL_FLOAT32);
      const float *fd = ptl_tensor_data(f);
      for (int i = 0; i < 10; i++) {
        int64_t v = ptl_load_i64(ptl_tensor_dtype(r), ptl_tensor_data(r), i);
        T_CHECK(v == cases[c].want[i]);
        if (cases[c].d != PTL_QINT32)
          T_CHECK(fd[i] == (float)(v - cases[c].zp) * 0.5f);
      }
      if (cases[c].d == PTL_QINT32) {
        /* torch subtracts in int32: INT32_MIN - 0 stays, INT32_MAX * 0.5 rounds in float */
        T_CHECK(fd[7] == (float)INT32_MIN * 0.5f && fd[6] == (float)INT32_MAX * 0.5f);
      }
    }
    ptl_tensor_release(q);
    ptl_tensor_release(r);
    ptl_tensor_release(f);
  }
  ptl_tensor_release(in);
}

/* A value where x * (1/scale) and x / scale round differently: torch uses fma(x, 1/scale, zp)
 * per tensor for 8-bit, giving 128 here (torch 2.13: quint8 -> 128). */
static void test_inverse_scale(void) {
  const float x[] = {0.273939937f};
  int64_t shape[1] = {1};
  ptl_tensor *in = t_f32(1, shape, x), *q = NULL, *r = NULL;
  ptl_attrs a = qpt_attrs(0.00214854861, 0, PTL_QUINT8);
  T_OK(ptl_op_run(PTL_OP_QUANTIZE_PER_TENSOR, &a, &in, 1, &q, 1));
  if (q)
    T_OK(ptl_op_run(PTL_OP_INT_REPR, NULL, &q, 1, &r, 1));
  if (r)
    T_CHECK(((const uint8_t *)ptl_tensor_data(r))[0] == 128);
  ptl_tensor_release(in);
  ptl_tensor_release(q);
  ptl_tensor_release(r);
}

/* A strided (transposed) input and a preset output reused with new parameters. */
static void test_strided_and_preset(void) {
  const float x[] = {0.f, 1.f, 2.f, 3.f, 4.f, 5.f};
  int64_t shape[2] = {2, 3}, tshape[2] = {3, 2}, tstrides[2] = {1, 3};
  ptl_tensor *base = t_f32(2, shape, x), *tv = NULL, *q = NULL, *r = NULL;
  T_OK(ptl_tensor_view(base, 2, tshape, tstrides, 0, &tv));
  ptl_attrs a = qpt_attrs(1.0, 1, PTL_QINT8);
  T_OK(ptl_op_run(PTL_OP_QUANTIZE_PER_TENSOR, &a, &tv, 1, &q, 1));
  T_OK(ptl_op_run(PTL_OP_INT_REPR, NULL, &q, 1, &r, 1));
  if (r) {
    const int8_t *d = ptl_tensor_data(r);
    /* transpose of [[0,1,2],[3,4,5]] + 1 */
    T_CHECK(d[0] == 1 && d[1] == 4 && d[2] == 2 && d[3] == 5 && d[4] == 3 && d[5] == 6);
  }
  ptl_attrs b = qpt_attrs(2.0, -3, PTL_QINT8);
  ptl_tensor *q0 = q;
  T_OK(ptl_op_run(PTL_OP_QUANTIZE_PER_TENSOR, &b, &tv, 1, &q, 1));
  T_CHECK(q == q0);
  T_CHECK(q && q->qparams && q->qparams->scale[0] == 2.0f && q->qparams->zero_point[0] == -3);
  T_OK(ptl_op_run(PTL_OP_INT_REPR, NULL, &q, 1, &r, 1));
  if (r) {
    const int8_t *d = ptl_tensor_data(r);
    /* torch rounds v / 2 - 3 as one value (fma), half to even: 0->-3, 3->-1.5->-2,
     * 1->-2.5->-2, 4->-1, 2->-2, 5->-0.5->0 */
    T_CHECK(d[0] == -3 && d[1] == -2 && d[2] == -2 && d[3] == -1 && d[4] == -2 && d[5] == 0);
  }
  ptl_tensor_release(base);
  ptl_tensor_release(tv);
  ptl_tensor_release(q);
  ptl_tensor_release(r);
}

/* Per channel along axis 1 of [2, 3]; torch: int_repr [[1,3,4],[3,7,0]] for qint8. */
static void test_per_channel(void) {
  const float x[] = {0.1f, 0.4f, 0.6f, 0.3f, 1.2f, NAN};
  const float sc[] = {0.1f, 0.2f, 0.3f};
  int64_t shape[2] = {2, 3}, c3[1] = {3};
  ptl_tensor *in = t_f32(2, shape, x), *s = t_f32(1, c3, sc), *z = NULL;
  T_OK(ptl_tensor_create(PTL_INT64, 1, c3, &z));
  if (!z)
    return;
  int64_t *zd = ptl_tensor_data(z);
  zd[0] = 0;
  zd[1] = 1;
  zd[2] = 2;
  ptl_tensor *ins[3] = {in, s, z}, *q = NULL, *r = NULL, *f = NULL;
  ptl_attrs a = qpc_attrs(1, PTL_QINT8);
  T_OK(ptl_op_run(PTL_OP_QUANTIZE_PER_CHANNEL, &a, ins, 3, &q, 1));
  if (q) {
    T_CHECK(q->qparams && q->qparams->scheme == PTL_QSCHEME_PER_CHANNEL_AFFINE &&
            q->qparams->axis == 1 && q->qparams->count == 3 && q->qparams->zero_point[2] == 2);
    T_OK(ptl_op_run(PTL_OP_INT_REPR, NULL, &q, 1, &r, 1));
    T_OK(ptl_op_run(PTL_OP_DEQUANTIZE, NULL, &q, 1, &f, 1));
  }
  if (r && f) {
    const int8_t *d = ptl_tensor_data(r);
    /* 0.1/0.1=1, 0.4/0.2+1=3, 0.6/0.3+2=4, 0.3/0.1=3 (float: 2.9999998 -> 3), 1.2/0.2+1=7, NaN
     * per channel -> 0 (torch) */
    T_CHECK(d[0] == 1 && d[1] == 3 && d[2] == 4 && d[3] == 3 && d[4] == 7 && d[5] == 0);
    const float *fd = ptl_tensor_data(f);
    T_CHECK(fd[1] == (float)(2.0 * (double)0.2f) && fd[5] == (float)(-2.0 * (double)0.3f));
  }
  ptl_tensor_release(q);
  ptl_tensor_release(r);
  ptl_tensor_release(f);

  /* errors: wrong scales length for the axis, axis out of range, zero point out of range */
  a = qpc_attrs(0, PTL_QINT8);
  q = NULL;
  T_CHECK(ptl_op_run(PTL_OP_QUANTIZE_PER_CHANNEL, &a, ins, 3, &q, 1) == PTL_ERR_SHAPE && !q);
  T_CHECK(strstr(ptl_last_error_message(), "length of scales must equal to channel, expected 2 "
                                           "got, 3") != NULL);
  a = qpc_attrs(2, PTL_QINT8);
  T_CHECK(ptl_op_run(PTL_OP_QUANTIZE_PER_CHANNEL, &a, ins, 3, &q, 1) != PTL_OK && !q);
  T_CHECK(strstr(ptl_last_error_message(), "Channel axis out of range") != NULL);
  zd[1] = 300;
  a = qpc_attrs(1, PTL_QUINT8);
  T_CHECK(ptl_op_run(PTL_OP_QUANTIZE_PER_CHANNEL, &a, ins, 3, &q, 1) != PTL_OK && !q);
  T_CHECK(strstr(ptl_last_error_message(), "zero_point 300 is above upper bound") != NULL);
  ptl_tensor_release(in);
  ptl_tensor_release(s);
  ptl_tensor_release(z);
}

static void test_errors(void) {
  int64_t shape[1] = {2};
  ptl_tensor *f = t_f32(1, shape, NULL), *i = NULL, *out = NULL;
  T_OK(ptl_tensor_create(PTL_INT64, 1, shape, &i));
  ptl_attrs a = qpt_attrs(0.1, 0, PTL_QUINT8);
  T_CHECK(ptl_op_run(PTL_OP_QUANTIZE_PER_TENSOR, &a, &i, 1, &out, 1) == PTL_ERR_DTYPE && !out);
  T_CHECK(strcmp(ptl_last_error_message(), "Quantize only works on Float Tensor, got Long") == 0);
  a = qpt_attrs(0.1, 256, PTL_QUINT8);
  T_CHECK(ptl_op_run(PTL_OP_QUANTIZE_PER_TENSOR, &a, &f, 1, &out, 1) != PTL_OK && !out);
  T_CHECK(strcmp(ptl_last_error_message(),
                 "quantize_tensor_per_tensor_affine zero_point 256 is above upper bound.") == 0);
  a = qpt_attrs(0.1, 0, PTL_FLOAT32);
  T_CHECK(ptl_op_run(PTL_OP_QUANTIZE_PER_TENSOR, &a, &f, 1, &out, 1) == PTL_ERR_DTYPE && !out);
  T_CHECK(strcmp(ptl_last_error_message(), "ScalarType Float is not supported in new_qtensor.") ==
          0);
  T_CHECK(ptl_op_run(PTL_OP_DEQUANTIZE, NULL, &f, 1, &out, 1) == PTL_ERR_DTYPE && !out);
  T_CHECK(strstr(ptl_last_error_message(), "dequantize: expected a quantized tensor") != NULL);
  T_CHECK(ptl_op_run(PTL_OP_INT_REPR, NULL, &f, 1, &out, 1) == PTL_ERR_DTYPE && !out);
  /* a quantized dtype without parameters (e.g. from ptl_tensor_create) is refused */
  ptl_tensor *bare = NULL;
  T_OK(ptl_tensor_create(PTL_QUINT8, 1, shape, &bare));
  T_CHECK(ptl_op_run(PTL_OP_DEQUANTIZE, NULL, &bare, 1, &out, 1) != PTL_OK && !out);
  ptl_tensor_release(bare);
  ptl_tensor_release(f);
  ptl_tensor_release(i);
}

/* A view of a quantized tensor keeps its parameters and dequantizes to the same values. */
static void test_views(void) {
  const float x[] = {0.f, 1.f, 2.f, 3.f, 4.f, 5.f};
  int64_t shape[2] = {2, 3};
  ptl_tensor *in = t_f32(2, shape, x), *q = NULL, *p = NULL, *f = NULL;
  ptl_attrs a = qpt_attrs(0.5, 3, PTL_QUINT8);
  T_OK(ptl_op_run(PTL_OP_QUANTIZE_PER_TENSOR, &a, &in, 1, &q, 1));
  ptl_attrs perm = {0};
  perm.n_ints = 2;
  perm.ints[0] = 1;
  perm.ints[1] = 0;
  if (q)
    T_OK(ptl_op_run(PTL_OP_PERMUTE, &perm, &q, 1, &p, 1));
  if (p) {
    T_CHECK(p->qparams && p->qparams->scale[0] == 0.5f && p->qparams->zero_point[0] == 3);
    T_OK(ptl_op_run(PTL_OP_DEQUANTIZE, NULL, &p, 1, &f, 1));
  }
  if (f) {
    const float *d = ptl_tensor_data(f);
    T_CHECK(d[0] == 0.f && d[1] == 3.f && d[2] == 1.f && d[5] == 5.f);
  }
  ptl_tensor_release(in);
  ptl_tensor_release(q);
  ptl_tensor_release(p);
  ptl_tensor_release(f);
}

void test_quant(void) {
  test_per_tensor_values();
  test_inverse_scale();
  test_strided_and_preset();
  test_per_channel();
  test_errors();
  test_views();
}
