import { h } from '../dom.js';

export async function render(main) {
  main.append(h('h1', {}, 'devices'), h('p', { class: 'muted' }, 'This page is being built.'));
}
