/* The console dashboard's two charts (ECharts, served by the console itself). Data comes from the page's JSON block. */
(function () {
  'use strict';
  var data = JSON.parse(document.getElementById('dashboard-data').textContent);
  var blue = '#1f6feb';
  var green = '#1a7f37';
  var axisLabel = { color: '#646a73' };
  var grid = { left: 56, right: 20, top: 24, bottom: 36 };

  function draw(id, option) {
    var el = document.getElementById(id);
    var chart = echarts.init(el, null, { renderer: 'canvas' });
    chart.on('finished', function () { el.setAttribute('data-rendered', 'true'); });
    chart.setOption(option);
    window.addEventListener('resize', function () { chart.resize(); });
  }

  draw('chart-renewals', {
    animation: false,
    grid: grid,
    tooltip: { trigger: 'axis', formatter: function (p) { return p[0].axisValue + '：' + p[0].data + ' 张'; } },
    xAxis: { type: 'category', data: data.renewals.days, axisLabel: axisLabel },
    yAxis: { type: 'value', minInterval: 1, axisLabel: axisLabel },
    series: [{ type: 'bar', data: data.renewals.counts, itemStyle: { color: blue }, barMaxWidth: 18 }],
  });

  draw('chart-revenue', {
    animation: false,
    grid: grid,
    tooltip: { trigger: 'axis', formatter: function (p) { return p[0].axisValue + ' 起的一周：' + p[0].data.toFixed(2) + ' 元'; } },
    xAxis: { type: 'category', data: data.revenue.weeks, axisLabel: axisLabel },
    yAxis: { type: 'value', axisLabel: { color: '#646a73', formatter: function (v) { return v >= 10000 ? (v / 10000) + ' 万' : v; } } },
    series: [{ type: 'line', data: data.revenue.yuan, smooth: false, symbolSize: 6, lineStyle: { color: green, width: 2 }, itemStyle: { color: green }, areaStyle: { color: 'rgba(26,127,55,0.08)' } }],
  });
})();
