// Placeholder: helper HL builds the survey preview (framed by the Surveys page).
/** @param {any} ctx */
export default async function preview(ctx) {
  ctx.ready();
}
