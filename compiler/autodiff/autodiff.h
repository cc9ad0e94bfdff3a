/* autodiff.h - derivatives by transforming IR (reverse.c, forward.c). */
#ifndef DMLC_AUTODIFF_H
#define DMLC_AUTODIFF_H
#include "../ir.h"

/* Turn the loss function f (one scalar result) into loss_grad in place:
 * results become (loss, d_param...) for the params in f->grad_params.
 * False, with a diagnostic, for a loop reverse mode cannot take (bounds
 * that are not constants or 0..n, too many carried values). */
bool ad_reverse(IrFunc *f, Diags *d);

/* Turn loss_grad into loss_hvp in place: one more input v_P per param with
 * a gradient (the direction), results H v, one per such param (forward
 * mode over reverse). False, with a diagnostic, if the function cannot be
 * differentiated. */
bool ad_forward_hvp(IrFunc *f, Diags *d);

#endif
