import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SECTIONS } from '../../bench/index';
import { alignedTable, endMarker, readmeBlock, replaceBlock, startMarker } from '../../bench/readme';

describe('the bench’s README blocks', () => {
  const section = { title: 'Reaper pass', columns: ['rows', 'ms'], rows: [['1,000', 585]], notes: ['a | b'] };
  const run = {
    command: 'npm run bench -- reaper',
    machine: 'node v22, 2 × CPU',
    date: '2026-12-07 21:00 UTC',
  };

  it('aligns the columns, figures to the right, and escapes pipes', () => {
    expect(
      alignedTable(
        ['rows', 'ms'],
        [
          ['1,000', 585],
          ['10,000', 2682],
        ],
      ),
    ).toBe(['| rows   |   ms |', '| ------ | ---: |', '| 1,000  |  585 |', '| 10,000 | 2682 |'].join('\n'));
    expect(alignedTable(['a'], [['x|y']])).toContain('x\\|y');
    // Words are aligned left, figures right.
    expect(
      alignedTable(
        ['case', 'holds', 'worst'],
        [
          ['a', 'yes', '1.33'],
          ['b', 'no', '2 heartbeats'],
        ],
      ),
    ).toBe(
      [
        '| case | holds |        worst |',
        '| ---- | ----- | -----------: |',
        '| a    | yes   |         1.33 |',
        '| b    | no    | 2 heartbeats |',
      ].join('\n'),
    );
  });

  it('says what was measured, by which command, when and where', () => {
    const block = readmeBlock(section, run);
    expect(block.startsWith('**Reaper pass**\n\n| rows  |  ms |')).toBe(true);
    expect(block).toContain('- a | b');
    expect(
      block.endsWith('_Measured 2026-12-07 21:00 UTC by `npm run bench -- reaper` on node v22, 2 × CPU._'),
    ).toBe(true);
  });

  it('replaces only what is between its markers, again and again', () => {
    const readme = `before\n${startMarker('reaper')}\nold\n${endMarker('reaper')}\nafter\n`;
    const once = replaceBlock(readme, 'reaper', 'new');
    expect(once).toBe(`before\n${startMarker('reaper')}\nnew\n${endMarker('reaper')}\nafter\n`);
    expect(replaceBlock(once, 'reaper', 'new')).toBe(once);
  });

  it('refuses a section the README does not place', () => {
    expect(() => replaceBlock('no markers', 'scale', 'x')).toThrow(/no <!-- bench:scale/);
  });

  it('has a filled place in the README for every bench section and both simulation tables', () => {
    const readme = readFileSync(join(__dirname, '..', '..', 'README.md'), 'utf8');
    const names = [...Object.keys(SECTIONS), 'sim-liveness', 'sim-bounds'];
    for (const name of names) {
      const start = readme.indexOf(startMarker(name));
      const end = readme.indexOf(endMarker(name));
      expect({ name, placed: start >= 0 && end > start }).toEqual({ name, placed: true });
      const block = readme.slice(start, end);
      const command = name.startsWith('sim-') ? 'npm run sim -- ' : `npm run bench -- ${name}`;
      expect({ name, measured: new RegExp(`_Measured .* by \`${command}`).test(block) }).toEqual({
        name,
        measured: true,
      });
    }
  });
});
